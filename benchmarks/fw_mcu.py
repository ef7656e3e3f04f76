"""Flash, RAM, arena and instructions per inference of every zoo model as Cortex-M4 firmware.

    python benchmarks/fw_mcu.py [OUT.json]      (default benchmarks/results/fw_mcu.json)

Needs TFLite Micro sources ($TFLM_DIR or ../shared/third_party),
arm-none-eabi-gcc with newlib, and qemu-system-arm. For each zoo model
(untrained, default input, int8; tests/fw_helpers.zoo_bundle_paths) and the
test suite's trained "yes" model: `export-mcu`, link examples/firmware for
mps2-an386 (-O2, TFLM reference kernels, TFLM built from source), read the
ELF's sections with arm-none-eabi-size, and run it on QEMU with
`-icount shift=0` over 1.6 s of audio (7 inferences). Reported:

- flash = .text + .rodata (+ .ARM.exidx and .data's initial values, which also live in flash);
- RAM = .data + .bss, where .bss holds the whole kTensorArenaSize array; and
  the arena the real MicroInterpreter reports using (arena_used_bytes) on the M4;
- instructions per Invoke(): QEMU's virtual clock runs 1 ns per instruction
  with -icount shift=0 and the board's 25 MHz timer ticks every 40 ns, so
  counts are multiples of 40 (+-40); the board checks the ratio at boot
  against a loop of known length. The rest of the firmware (front end,
  smoothing) is not in this count.
Models TFLM cannot run are listed with the reason export-mcu gives.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402

from benchmarks.results_io import write  # noqa: E402

AUDIO_S = 1.6


def sections(elf: pathlib.Path) -> dict:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def measure(bundle, name, library, root, work, audio) -> dict:
    from firmware_bridge.build import CORTEX_M4, build_firmware
    from firmware_bridge.export import export
    from firmware_bridge.qemu import run_mps2_an386

    exported = export(bundle, work / name, name=name)
    elf = build_firmware(root, exported.out_dir, name, CORTEX_M4, library, work / f"{name}.elf")
    s = sections(elf)
    run = run_mps2_an386(elf, audio, bundle=bundle, timeout_s=600)
    if run.returncode != 0:
        raise RuntimeError(f"{name}: firmware exited {run.returncode}: {run.log[-1000:]}")
    counts = [int(line.split()[1]) for line in run.log.splitlines() if line.startswith("invoke_counter")]
    arena_used = next(int(line.split()[1]) for line in run.log.splitlines() if line.startswith("arena_used_bytes"))
    flash = s.get(".text", 0) + s.get(".rodata", 0)
    ram = s.get(".data", 0) + s.get(".bss", 0)
    return {
        "ops": exported.ops,
        "model_array_bytes": exported.model_bytes,
        "flash_text_plus_rodata_bytes": flash,
        "flash_total_bytes": flash + s.get(".ARM.exidx", 0) + s.get(".data", 0),
        "sections": s,
        "ram_data_plus_bss_bytes": ram,
        "kTensorArenaSize": exported.arena_bytes,
        "arena_measured_python_tflm_bytes": exported.arena_measured_bytes,
        "arena_used_bytes_cortex_m4": arena_used,
        "ram_with_arena_as_used_bytes": ram - exported.arena_bytes + arena_used,
        "instructions_per_inference": {"median": int(np.median(counts)), "min": min(counts), "max": max(counts),
                                       "inferences": len(counts), "resolution": 40},
        "qemu_wall_s": round(run.wall_s, 2),
    }


def main(out_path: str = str(REPO / "benchmarks" / "results" / "fw_mcu.json")) -> dict:
    import stream_model
    from firmware_bridge.build import CORTEX_M4, build_library
    from firmware_bridge.export import export
    from firmware_bridge.tflm import model_ops
    from fw_helpers import BUILD_DIR, TFLM_DEFAULT, firmware_stream, zoo_bundle_paths
    from sdk.bundle import Bundle
    from sdk.errors import ModelError

    import os

    from firmware_bridge.build import find_tflm

    started = time.monotonic()
    root = find_tflm(os.environ.get("TFLM_DIR") or TFLM_DEFAULT)
    bundles = {name: Bundle.load(path) for name, path in zoo_bundle_paths().items()}
    bundles["yes_trained"] = Bundle.load(stream_model.yes_bundle_path())
    results, refused = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        pcm, description = firmware_stream(work)
        audio = work / "audio.raw"
        audio.write_bytes(pcm[: int(AUDIO_S * 16000)].astype("<i2").tobytes())
        runnable = {}
        for name, bundle in bundles.items():
            try:
                export(bundle, work / "check" / name, name=name)
                runnable[name] = bundle
            except ModelError as exc:
                refused[name] = str(exc)
        ops = sorted({op for b in runnable.values() for op in model_ops(b.model)})
        library = build_library(root, ops, CORTEX_M4, BUILD_DIR)
        for name, bundle in runnable.items():
            results[name] = measure(bundle, name, library, root, work, audio)
            print(name, results[name]["flash_text_plus_rodata_bytes"], results[name]["ram_data_plus_bss_bytes"],
                  results[name]["instructions_per_inference"], flush=True)
    document = {
        "what": "examples/firmware for mps2-an386 (Cortex-M4F, arm-none-eabi-gcc -O2, TFLM reference kernels), "
                "run on qemu-system-arm -icount shift=0",
        "audio": f"first {AUDIO_S} s of: {description}",
        "models": results,
        "refused_by_export_mcu": refused,
    }
    write(out_path, document, seeds=[0], elapsed_s=time.monotonic() - started)
    return document


if __name__ == "__main__":
    main(*sys.argv[1:])

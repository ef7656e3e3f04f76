"""Arena and flash of the test suite's tiny int8 model when exported for TFLite Micro.

    python benchmarks/fw_export_sizes.py [OUT.json]

Builds the untrained 3-label tiny model of tests/conftest.py (int8), exports
it with the default margin, and writes the export report plus the host object
sizes of the C sources (x86-64 gcc -Os; and Cortex-M4 when arm-none-eabi-gcc is
installed) as JSON. Not asserted anywhere: figures for the report.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402


def object_sizes(compiler: str, flags: list[str], sources: list[pathlib.Path], work: pathlib.Path) -> dict:
    sizes = {}
    for source in sources:
        obj = work / (source.stem + ".o")
        subprocess.run([compiler, *flags, "-c", str(source), "-o", str(obj)], check=True)
        size_tool = compiler.replace("gcc", "size").replace("g++", "size")
        out = subprocess.run([size_tool if shutil.which(size_tool) else "size", str(obj)], capture_output=True,
                             text=True, check=True).stdout.splitlines()[1].split()
        sizes[source.name] = {"text": int(out[0]), "data": int(out[1]), "bss": int(out[2])}
    return sizes


def main(out_path: str = "fw_export_sizes.json") -> dict:
    from conftest import build_tiny_model
    from firmware_bridge.export import export
    from quantize.export.int8 import to_tflite
    from sdk import Bundle, FrontEndConfig

    frontend = FrontEndConfig()
    calibration = np.random.default_rng(0).normal(-6, 3, (64, frontend.clip_frames, frontend.num_features))
    tflite = to_tflite(build_tiny_model(frontend), mode="int8", calibration=calibration.astype(np.float32))
    bundle = Bundle.create(tflite, frontend=frontend, labels=["yes", "no", "_silence_"], name="tiny")
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        exported = export(bundle, work / "mcu", name="tiny")
        result["export"] = exported.report
        c_dir = REPO / "firmware_bridge" / "c"
        c_sources = [c_dir / "auricle_link.c", c_dir / "auricle_frontend.c"]
        result["host_x86_64_Os"] = object_sizes("gcc", ["-std=c99", "-Os"], c_sources, work)
        result["host_x86_64_Os"]["tiny_model.cc"] = object_sizes(
            "g++", ["-std=c++17", "-Os"], [work / "mcu" / "tiny_model.cc"], work)["tiny_model.cc"]
        if shutil.which("arm-none-eabi-gcc"):
            flags = ["-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
            result["cortex_m4_Os"] = object_sizes("arm-none-eabi-gcc", flags, c_sources, work)
    pathlib.Path(out_path).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:]), indent=2))

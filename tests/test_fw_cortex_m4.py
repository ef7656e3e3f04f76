"""The firmware cross-built for a Cortex-M4 (arm-none-eabi-gcc), run on QEMU's mps2-an386, read by SerialLink.

Slow: TFLM cross-compiles once (cached in build/tflm) and QEMU emulates
every instruction of ~20 s of audio.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from fw_helpers import BUILD_DIR, firmware_stream, tflm_dir
from test_fw_firmware import compare_with_detector

pytestmark = pytest.mark.slow
pytest.importorskip("tflite_micro")


@pytest.fixture(scope="module")
def m4_firmware(yes_bundle, tmp_path_factory):
    from firmware_bridge.build import CORTEX_M4, build_firmware, build_library
    from firmware_bridge.export import export

    if not CORTEX_M4.available:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                    "libstdc++-arm-none-eabi-newlib)")
    if shutil.which("qemu-system-arm") is None:
        pytest.skip("qemu-system-arm is not installed (apt-get install qemu-system-arm)")
    root = tflm_dir()
    exported = export(yes_bundle, tmp_path_factory.mktemp("yes"), name="yes")
    library = build_library(root, exported.ops, CORTEX_M4, BUILD_DIR)
    return build_firmware(root, exported.out_dir, "yes", CORTEX_M4, library, tmp_path_factory.mktemp("m4") / "yes.elf")


def test_cortex_m4_firmware_events_reach_serial_link(m4_firmware, yes_bundle, tmp_path):
    from firmware_bridge.qemu import run_mps2_an386

    pcm, description = firmware_stream(tmp_path)
    audio = tmp_path / "audio.raw"
    audio.write_bytes(pcm.astype("<i2").tobytes())
    run = run_mps2_an386(m4_firmware, audio, bundle=yes_bundle, timeout_s=900)
    assert run.returncode == 0, run.log[-2000:]
    assert run.rejects == 0
    detections, steps = compare_with_detector(yes_bundle, pcm, run.messages, run.log)
    assert detections, f"no detection on {description}"
    # SerialLink turned each DETECTION into an sdk event with the device's clock.
    assert [(e.label, e.end_s) for e in run.events] == [
        (yes_bundle.labels[m.label_index], m.timestamp_ms / 1000) for m in detections]
    counts = [int(line.split()[1]) for line in run.log.splitlines() if line.startswith("invoke_counter")]
    assert counts and np.ptp(counts) < 0.05 * np.mean(counts), counts  # a fixed graph: near-constant work per Invoke


def test_cortex_m4_refuses_to_run_without_instruction_counting(m4_firmware, tmp_path):
    """The board checks its counter against a loop of known length: without -icount it exits 101."""
    import subprocess

    audio = tmp_path / "audio.raw"
    audio.write_bytes(b"\0" * 32000)
    command = ["qemu-system-arm", "-machine", "mps2-an386", "-display", "none", "-monitor", "none",
               "-semihosting-config", f"enable=on,target=native,arg=firmware,arg={audio}", "-serial", "null",
               "-kernel", str(m4_firmware)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 101, run
    assert "-icount shift=0" in run.stdout + run.stderr

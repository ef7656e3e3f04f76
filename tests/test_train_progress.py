"""``auricle train``'s terminal: progress per stage, a summary, and no TensorFlow log lines."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from quantize import progress

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
TF_NOISE = ("I0000", "W0000", "absl::InitializeLog", "XNNPACK delegate", "oneDNN", "cuda", "fully_quantize",
            "UserWarning", "Epoch 1/")


def test_stage_is_silent_without_a_reporter():
    with progress.stage("anything", total=3) as advance:
        advance(2, info="x")
    assert not progress.active()


def test_rich_reporter_counts_each_stage_and_nests_lines():
    console = Console(file=io.StringIO(), width=120)
    with progress.reporting(progress.RichReporter(console)):
        assert progress.active()
        with progress.stage("data"):
            with progress.stage("synthesis", total=4) as advance:
                for _ in range(4):
                    advance()
        with progress.stage("epochs", total=2) as advance:
            advance(1, info="val acc 50.0 %")
            advance(1, info="val acc 75.0 %")
    lines = [line.rstrip() for line in console.file.getvalue().splitlines() if line.strip()]
    assert [line.split()[1] for line in lines] == ["data", "synthesis", "epochs"]
    assert "4/4" in lines[1] and "2/2" in lines[2] and lines[2].endswith("val acc 75.0 %")
    assert "/" not in lines[0].split("data", 1)[1]  # a stage without a count shows none


def test_native_output_goes_to_the_file_and_comes_back(tmp_path):
    """What C code writes to fd 1 and 2 lands in the file; a terminal stream made first still works."""
    script = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from quantize import progress
with progress.terminal_stream() as terminal:
    with progress.native_output_to({str(tmp_path / 'native.log')!r}):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        os.write(1, b"fully_quantize: 0\\n")
        terminal.write("progress line\\n")
    os.write(2, b"after\\n")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "progress line\nafter\n" and done.stdout == ""
    assert (tmp_path / "native.log").read_text() == "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nfully_quantize: 0\n"


@pytest.mark.slow
def test_train_cli_prints_stages_and_summary_and_no_tensorflow_lines(tmp_path):
    pytest.importorskip("tensorflow")
    import yaml

    from conftest import TONES_HZ, tone_clip
    from test_train_pipeline import RATE, tiny_recipe
    import numpy as np
    import soundfile

    rng = np.random.default_rng(5)
    for label, freq in TONES_HZ.items():
        (tmp_path / "tones" / label).mkdir(parents=True)
        for i in range(12):
            soundfile.write(tmp_path / "tones" / label / f"s{i:02d}_nohash_0.wav", tone_clip(freq, rng), RATE)
    recipe = tiny_recipe(tmp_path / "tones", epochs=2)
    recipe["export"] = {"modes": ["int8"], "calibration_size": 16}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "sdk.cli", "train", str(tmp_path / "recipe.yaml"), "--out",
                           str(tmp_path / "run")], cwd=REPO, env=env, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stderr
    for stage in ("data", "features", "epochs", "export", "evaluation"):
        assert any(line.split()[1:2] == [stage] for line in done.stderr.splitlines() if line.strip()), done.stderr
    assert "2/2" in next(line for line in done.stderr.splitlines() if " epochs " in line)
    assert not [noise for noise in TF_NOISE if noise in done.stderr + done.stdout], done.stderr
    assert "model_int8.tflite" in done.stdout and "test accuracy" in done.stdout
    assert "XNNPACK" in (tmp_path / "run" / "tensorflow.log").read_text()  # kept, out of the way

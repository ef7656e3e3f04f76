"""``train.strategy: multi_worker``: two worker processes on loopback ports train one model.

Each worker runs ``auricle train`` with its own ``TF_CONFIG`` (docs/multi_worker.md
says how to do the same across machines). MultiWorkerMirroredStrategy all-reduces
the gradients, so both must end with the same weights; the chief (worker 0)
writes the checkpoint.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile

pytest.importorskip("tensorflow")

from conftest import TONES_HZ, tone_clip  # noqa: E402
from test_train_pipeline import RATE, tiny_recipe  # noqa: E402

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_two_local_workers_train_the_same_model(tmp_path):
    import yaml

    rng = np.random.default_rng(5)
    for label, freq in TONES_HZ.items():
        (tmp_path / "tones" / label).mkdir(parents=True)
        for i in range(30):
            soundfile.write(tmp_path / "tones" / label / f"s{i:02d}_nohash_0.wav", tone_clip(freq, rng), RATE)
    recipe = tiny_recipe(tmp_path / "tones", epochs=3, strategy="multi_worker")
    recipe["export"] = {"modes": ["int8"], "calibration_size": 32}
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "sdk.cli", "train", str(tmp_path / "recipe.yaml"), "--out", str(tmp_path / f"w{index}")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=600)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    chief, worker = tmp_path / "w0", tmp_path / "w1"
    weights = [keras.models.load_model(run / "model.keras", compile=False).get_weights() for run in (chief, worker)]
    assert len(weights[0]) == len(weights[1]) > 0
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    histories = [json.loads((run / "history.json").read_text()) for run in (chief, worker)]
    assert histories[0]["val_accuracy"] == histories[1]["val_accuracy"]  # metrics are all-reduced too
    assert (chief / "checkpoints" / "best_weights.h5").is_file()  # the chief writes the checkpoint ...
    assert not (worker / "checkpoints" / "best_weights.h5").exists()  # ... a worker's copy is temporary
    metrics = json.loads((chief / "metrics.json").read_text())
    assert metrics["artifacts"]["int8"]["file"] == "model_int8.tflite" and (chief / "report.md").is_file()

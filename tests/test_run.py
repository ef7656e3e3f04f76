"""quantize.run: the run folder every training stage reads and writes."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from quantize.run import Run, calibration_windows, prepare_dir, to_bundle  # noqa: E402
from sdk.bundle import Bundle, DetectionDefaults  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402

LABELS = ["yes", "no", "_silence_"]


def test_write_artifact_wraps_the_model_once_and_records_what_the_engine_measured(tiny_model_int8, tmp_path,
                                                                                   monkeypatch):
    _, tflite, calibration, _ = tiny_model_int8
    run = Run.create(tmp_path / "run", labels=LABELS, frontend=FrontEndConfig(),
                     detection=DetectionDefaults(threshold=0.7, min_count=3))
    created = []
    original = Bundle.create.__func__
    monkeypatch.setattr(Bundle, "create", classmethod(lambda cls, *a, **k: created.append(1) or original(cls, *a, **k)))
    y = np.arange(len(calibration)) % 3
    entry = run.write_artifact("int8", tflite, name="tiny", test=(calibration, y),
                               provenance=lambda evaluation: {"accuracy_seen": evaluation["accuracy"]})
    assert len(created) == 1  # evaluated on the .tflite bytes, wrapped as a Bundle once
    saved = Bundle.load(tmp_path / "run" / entry["file"])
    assert saved.provenance["accuracy_seen"] == entry["test"]["accuracy"] and saved.provenance["export_mode"] == "int8"
    assert saved.heads[0].background == ("_silence_",)  # background labels chosen in one place
    assert (saved.detection.threshold, saved.detection.min_count) == (0.7, 3)
    assert entry["model_bytes"] == len(tflite) < entry["bundle_bytes"]


def test_metrics_carry_what_the_next_stage_inherits(tmp_path):
    run = Run.create(tmp_path / "run", labels=LABELS, frontend=FrontEndConfig(n_mels=20),
                     detection=DetectionDefaults(threshold=0.6), calibration={"size": 7, "seed": 3})
    (run.path / "model.keras").write_text("")  # Run.open checks the folder's shape only
    run.write_metrics({"accuracy": 0.5})
    again = Run.open(run.path)
    assert (again.labels, again.frontend, again.detection, again.calibration) == (
        LABELS, FrontEndConfig(n_mels=20), DetectionDefaults(threshold=0.6), {"size": 7, "seed": 3})
    child = again.child(tmp_path / "next")
    assert child.detection.threshold == 0.6 and child.calibration == {"size": 7, "seed": 3}
    x = np.arange(20)[:, None]
    assert np.array_equal(child.calibration_windows(x), calibration_windows(x, size=7, seed=3))
    assert json.loads((run.path / "metrics.json").read_text())["accuracy"] == 0.5


def test_run_folders_are_not_overwritten(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="already exists"):
        Run.create(mine, labels=LABELS, frontend=FrontEndConfig())
    with pytest.raises(ConfigError, match="not an Auricle run folder"):
        prepare_dir(mine, force=True)
    assert (mine / "notes.txt").read_text() == "keep"
    (mine / "stage.json").write_text("{}")  # a stage's folder may be replaced with force
    assert Run.create(mine, labels=LABELS, frontend=FrontEndConfig(), force=True).path.is_dir()
    assert not (mine / "notes.txt").exists()


def test_to_bundle_marks_background_labels(tiny_model_int8):
    _, tflite, _, _ = tiny_model_int8
    bundle = to_bundle(tflite, frontend=FrontEndConfig(), labels=["_unknown_", "go", "_silence_"], name="t")
    assert bundle.heads[0].background == ("_unknown_", "_silence_") and bundle.detection == DetectionDefaults()


def test_a_bad_detection_in_a_run_folder_is_refused_naming_file_and_key(tmp_path):
    run = Run.create(tmp_path / "run", labels=LABELS, frontend=FrontEndConfig())
    (run.path / "model.keras").write_text("")
    run.write_metrics({})
    metrics = json.loads((run.path / "metrics.json").read_text())
    metrics["detection"]["threshold"] = 1.2  # edited by hand
    (run.path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ConfigError, match=r"metrics.json: detection.threshold: threshold=1.2 must be in \(0, 1\]"):
        Run.open(run.path)

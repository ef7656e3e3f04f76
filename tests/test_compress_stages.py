"""Compression stages on run folders: recipe checks before work, artifacts that `classify` runs."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from conftest import one_window_features, one_window_scores  # noqa: E402
from quantize.compress import stages as compress  # noqa: E402
from quantize.run import load_model  # noqa: E402
from quantize.compress import recipe as compress_recipe
from quantize.train import zoo
from quantize.compress.cli import register  # noqa: E402
from quantize.export.int8 import tensor_types  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
LABELS = ["_silence_", "yes", "no"]


def make_run(folder, *, labels=LABELS, filters=8):
    """A tiny trained-looking run folder: model.keras, metrics.json, features.npz."""
    frontend = FrontEndConfig()
    shape = (frontend.clip_frames, frontend.num_features)
    rng = np.random.default_rng(0)
    y = rng.integers(0, len(labels), 96)
    x = rng.normal(-6, 2, (96, *shape)).astype(np.float32)
    for c in range(len(labels)):
        x[y == c, :, 5 * c:5 * c + 5] += 4.0
    folder.mkdir(parents=True)
    model = zoo.build("ds_cnn_s", shape, len(labels), filters=filters, blocks=1)
    model.save(folder / "model.keras")
    np.savez(folder / "features.npz", x_train=x, y_train=y, x_val=x[:32], y_val=y[:32], x_test=x[:32], y_test=y[:32])
    (folder / "metrics.json").write_text(json.dumps({"labels": labels, "frontend": frontend.to_dict()}))
    return folder


@pytest.mark.parametrize("section, message", [
    ([{"shrink": {}}], "unknown stage 'shrink'"),
    ([{"prune": {"sparsity": 1.5}}], r"prune\).*sparsity"),
    ([{"prune": {"sparsity": 0.5, "epochz": 3}}], "epochz"),
    ([{"distill": {"temperature": -1}}], "temperature"),
    ([{"qat": {}}, {"prune": {"sparsity": 0.5}}], "must be last"),
    ([], "non-empty list"),
    ([{"prune": {"sparsity": 0.5}, "qat": {}}], "one mapping"),
])
def test_bad_compress_sections_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        compress_recipe.parse(section)


def test_stages_keep_their_order_and_yaml_loads(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: x\ncompress:\n  - distill: {teacher: t, temperature: 4, alpha: 0.7}\n"
                    "  - prune: {sparsity: 0.75}\n  - qat: {epochs: 3}\n")
    stages = compress_recipe.load(path)
    assert [s.kind for s in stages] == ["distill", "prune", "qat"]
    assert stages[0].teachers == ["t"] and stages[1].exclude == ["first", "last"]


def test_teacher_with_other_labels_fails_before_any_work(tmp_path):
    run = make_run(tmp_path / "run")
    teacher = make_run(tmp_path / "teacher", labels=["_silence_", "no", "yes"])
    stages = [{"prune": {"sparsity": 0.5}}, {"distill": {"teacher": str(teacher)}}]
    with pytest.raises(ConfigError, match="labels"):
        compress.apply(run, stages)
    assert not (run / "compress").exists()
    with pytest.raises(ConfigError, match="not a run folder"):
        compress.apply(tmp_path, stages)
    with pytest.raises(ConfigError, match="not a registered model"):
        compress.apply(run, [{"distill": {"student": {"name": "nope"}}}])


def test_chain_writes_artifacts_that_classify_runs(tmp_path, speech_wav):
    run = make_run(tmp_path / "run", filters=12)
    stages = [
        {"distill": {"student": {"name": "cnn_small", "params": {"filters": [4, 8]}}, "epochs": 1}},
        {"prune": {"sparsity": 0.5, "epochs": 1, "exclude": []}},
        {"qat": {"epochs": 1}},
    ]
    written = compress.apply(run, stages)
    assert [p.name for p in written] == ["01_distill", "02_prune", "03_qat"]
    pruned = json.loads((written[1] / "metrics.json").read_text())
    assert pruned["info"]["sparsity"] >= 0.49
    assert pruned["model"]["params"] == json.loads((written[0] / "metrics.json").read_text())["model"]["params"]
    qat = json.loads((written[2] / "metrics.json").read_text())
    assert qat["info"]["scheme"] == "prune_preserve"
    qat_bundle = Bundle.load(written[2] / "model_int8.tflite")
    assert set(tensor_types(qat_bundle.model).values()) <= {"int8", "int32"}
    assert qat_bundle.labels == tuple(LABELS) and qat_bundle.provenance["compress_stage"] == "qat"
    # classify on each artifact gives what a bare interpreter gives, and what the stage's own Keras
    # model gives (float32: to float error; int8: the same label).
    keras_model = {0: written[0], 1: written[1]}
    for i, artifact in enumerate((written[0] / "model_float32.tflite", written[1] / "model_int8.tflite",
                                  written[2] / "model_int8.tflite")):
        out = subprocess.run([sys.executable, "-m", "sdk.cli", "classify", str(artifact), str(speech_wav), "--json"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        scores = json.loads(out.stdout.splitlines()[-1])["scores"]["output"]
        bundle = Bundle.load(artifact)
        expected = one_window_scores(bundle.model, bundle.frontend, speech_wav)
        assert scores == pytest.approx(dict(zip(LABELS, expected.tolist())), abs=1e-6)
        if i in keras_model:
            window = one_window_features(bundle.frontend, speech_wav)
            keras_scores = load_model(keras_model[i] / "model.keras").predict(window, verbose=0)[0]
            if i == 0:
                assert list(scores.values()) == pytest.approx(keras_scores.tolist(), abs=1e-4)
            else:  # post-training int8 of a 1-epoch pruned model moves scores by up to ~0.2 here: same label
                assert max(scores, key=scores.get) == LABELS[int(np.argmax(keras_scores))]
    with pytest.raises(ConfigError, match="exist"):
        compress.apply(run, stages)


def test_cli_reports_a_bad_recipe(tmp_path):
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("compress:\n  - prune: {sparsity: 1.5}\n")
    result = CliRunner().invoke(app, ["compress", str(tmp_path), "--recipe", str(recipe)])
    assert isinstance(result.exception, ConfigError) and "sparsity" in str(result.exception)


def test_compressed_artifacts_keep_the_recipes_detection(tmp_path):
    """A training run's detection defaults (recipe.yaml, metrics.json) reach every stage's artifacts,
    through a chain of stages, instead of reverting to DetectionDefaults()' 0.8."""
    run = make_run(tmp_path / "run")
    (run / "recipe.yaml").write_text("name: kws\ndetection: {threshold: 0.55, thresholds: {'yes': 0.65}, min_count: 3}\n")
    outs = compress.apply(run, [{"prune": {"sparsity": 0.5, "epochs": 1}}, {"ptq": {"modes": ["int8"]}}])
    for out in outs:
        for artifact in out.glob("model_*.tflite"):
            detection = Bundle.load(artifact).detection
            assert (detection.threshold, detection.thresholds, detection.min_count) == (0.55, {"yes": 0.65}, 3), artifact
    assert json.loads((outs[0] / "metrics.json").read_text())["detection"]["threshold"] == 0.55
    assert "threshold 0.55" in (outs[1] / "report.md").read_text()

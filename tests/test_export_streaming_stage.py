"""Streaming int8 export as a recipe stage and a CLI command (quantize.export.streaming_stage).

A recipe over synthesised tone clips asks for ``export.modes: [int8, streaming_int8]``;
the run folder then holds both artifacts, and the Detector hears the same
events from each on a synthesised stream. A model that cannot stream is
refused when the recipe is validated, naming the model and the layer.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

pytest.importorskip("tensorflow")

from conftest import TONES_HZ, tone  # noqa: E402
from quantize import pipeline  # noqa: E402
from quantize import recipe as qrecipe  # noqa: E402
from quantize.recipe_checks import validate  # noqa: E402
from quantize.export import streaming_stage  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.detector import Detector  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402

RATE = 16000



def streaming_recipe(root, *, model=None, modes=("int8", "streaming_int8")):
    return {
        "name": "tones-streaming",
        "data": {
            "keywords": list(TONES_HZ), "unknown": False, "silence": True,
            "sources": [{"kind": "folders", "path": str(root)}],
            "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "train_copies": 2, "silence_count": 12,
        },
        "frontend": {"n_mels": 20, "hop_ms": 32.0, "window_ms": 32.0},
        "model": model or {"name": "ds_cnn_s", "params": {"filters": 16, "blocks": 2, "streamable": True}},
        "train": {"epochs": 8, "batch_size": 8, "lr": 0.005, "deterministic": False, "early_stopping_patience": 0,
                  "spec_augment": False},
        "export": {"modes": list(modes), "calibration_size": 50},
        "detection": {"threshold": 0.6, "hop_s": 0.096, "smoothing_s": 0.2, "min_count": 2, "refractory_s": 1.0},
    }



@pytest.fixture(scope="module")
def run_dir(tone_folders, tmp_path_factory):
    return pipeline.run(streaming_recipe(tone_folders), tmp_path_factory.mktemp("runs") / "tones", verbose=0)


def test_recipe_writes_a_streaming_artifact_listed_like_the_others(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    info = metrics["artifacts"]["streaming_int8"]
    assert info["file"] == "model_streaming_int8.tflite" and (run_dir / info["file"]).is_file()
    assert info["frames_per_step"] == 3  # one 96 ms detection hop of 32 ms frames
    assert metrics["model_bytes"]["streaming_int8"] == info["model_bytes"] > 0
    # Scored on the same test windows, each streamed from zero state: as good as the window model, well above chance.
    window = metrics["artifacts"]["int8"]["test"]["accuracy"]
    assert info["test"]["accuracy"] >= max(0.7, window - 0.05), (info["test"]["accuracy"], window)
    assert info["agreement_with_int8"]["top1_agreement"] >= 0.95
    assert "model_streaming_int8.tflite (streaming_int8)" in (run_dir / "report.md").read_text()
    bundle = Bundle.load(run_dir / info["file"])
    assert bundle.streaming["frames_per_step"] == 3 and bundle.streaming["states"]
    assert bundle.inputs[0].dtype == "int8"
    assert bundle.detection.threshold == 0.6  # the recipe's detection section travels with it


def test_streaming_int8_is_calibrated_on_the_window_models_windows(run_dir):
    # The frames input's int8 range is the min / max of what calibrated it: equal ranges mean the same windows.
    window, streaming = Bundle.load(run_dir / "model_int8.tflite"), Bundle.load(run_dir / "model_streaming_int8.tflite")
    frames = streaming.signature_tensors()["inputs"]["frames"]
    assert (frames.scale, frames.zero_point) == (window.inputs[0].scale, window.inputs[0].zero_point)
    calibration = np.load(run_dir / "calibration.npy")
    assert calibration.shape == (50, window.frontend.clip_frames, window.frontend.num_features)


def _stream(rng):
    """10 s of faint noise with a low tone at 2 s and a high tone at 6 s."""
    samples = rng.normal(0, 0.01, 10 * RATE).astype(np.float32)
    for start_s, label in ((2.0, "low"), (6.0, "high")):
        burst = tone(TONES_HZ[label], 0.5, RATE, amplitude=0.4)
        samples[int(start_s * RATE) : int(start_s * RATE) + burst.size] += burst
    return samples


def test_detector_hears_the_same_events_from_both_artifacts(run_dir):
    window = Detector(Bundle.load(run_dir / "model_int8.tflite"))
    streaming = Detector(Bundle.load(run_dir / "model_streaming_int8.tflite"))
    samples = _stream(np.random.default_rng(11))
    expected = [e for block in np.array_split(samples, 37) for e in window.feed(block)]  # blocks of any length
    got = [e for block in np.array_split(samples, 23) for e in streaming.feed(block)]
    assert [e.label for e in expected] == ["low", "high"]
    assert [e.label for e in got] == [e.label for e in expected]
    hop_s = window.hop_s
    for a, b in zip(got, expected):
        assert abs(a.time_s - b.time_s) <= hop_s + 1e-9


def test_cli_converts_an_existing_run(run_dir, tmp_path):
    import typer
    from typer.testing import CliRunner

    from quantize.export.cli import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "streamed"
    result = CliRunner().invoke(app, ["export-streaming", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 frames per step" in result.output
    info = json.loads((out / "metrics.json").read_text())["artifacts"]["streaming_int8"]
    assert info["agreement_with_int8"]["top1_agreement"] >= 0.95  # on the run's calibration windows
    assert Bundle.load(out / "model_streaming_int8.tflite").streaming["frames_per_step"] == 3
    again = CliRunner().invoke(app, ["export-streaming", str(run_dir), "--out", str(out)])
    assert isinstance(again.exception, ConfigError) and "already exists" in str(again.exception)


def test_cli_names_missing_calibration(run_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.npy: no calibration windows; pass --calibration"):
        streaming_stage.convert_run(run_dir, out=tmp_path / "x", calibration=tmp_path / "nope.npy")


@pytest.mark.parametrize(
    "model, layer",
    [
        ({"name": "ds_cnn_s", "params": {"filters": 8, "blocks": 1}}, r"Conv2D 'conv2d\w*' has padding='same'"),
        ({"name": "bc_resnet"}, r"layer 'add\w*' does not take the previous layer's output"),
        ({"name": "cnn_small"}, r"Conv2D 'conv2d\w*' has padding='same'"),
    ],
)
def test_a_model_that_cannot_stream_is_refused_when_the_recipe_is_read(tone_folders, tmp_path, model, layer):
    recipe = qrecipe.load(streaming_recipe(tone_folders, model=model))
    with pytest.raises(ConfigError, match=rf"export.modes asks for 'streaming_int8', but model '{model['name']}' .*"
                                          rf"cannot stream: to_streaming: {layer}.*streamable: true"):
        validate(recipe)
    with pytest.raises(ConfigError, match="cannot stream"):  # before any folder is made or audio read
        pipeline.run(streaming_recipe(tone_folders, model=model), tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_recurrent_layer_is_named():
    import tf_keras as keras

    from quantize.export.streaming import to_streaming

    inputs = keras.Input((10, 4))
    x = keras.layers.GRU(3, unroll=True, name="gru_here")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ConfigError, match=r"'gru_here' \(GRU\) starts from a zero state in every window"):
        to_streaming(model)


def test_streamable_zoo_models_convert_and_match_the_window_model():
    from quantize.export.streaming import run_streaming_keras, to_streaming
    from quantize.train import zoo

    rng = np.random.default_rng(0)
    sequence = rng.normal(size=(40, 12)).astype(np.float32)
    for name, params in (("ds_cnn_s", {"filters": 8, "blocks": 2}), ("cnn_small", {"filters": (4, 6)})):
        model = zoo.build(name, (24, 12), 3, streamable=True, **params)
        steps = run_streaming_keras(to_streaming(model, frames_per_step=4), sequence)
        ends = np.arange(4, 41, 4)
        full = ends >= 24
        expected = model.predict(np.stack([sequence[e - 24 : e] for e in ends[full]]), verbose=0)
        np.testing.assert_allclose(steps[full], expected, atol=1e-5)

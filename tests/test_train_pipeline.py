"""End to end: recipe -> run folder with Bundles that classify files, metrics, plots, report."""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import soundfile

pytest.importorskip("tensorflow")

from conftest import TONES_HZ, tone, tone_clip  # noqa: E402
from quantize import pipeline  # noqa: E402
from quantize.data import splits  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.classify import classify_file  # noqa: E402

RATE = 16000




def tiny_recipe(root, **train):
    return {
        "name": "tones",
        "data": {
            "keywords": list(TONES_HZ),
            "unknown": False,
            "silence": True,
            "sources": [{"kind": "folders", "path": str(root)}],
            "split": {"train": 0.6, "val": 0.2, "test": 0.2},
            "train_copies": 2,
            "silence_count": 12,
        },
        "frontend": {"n_mels": 20, "hop_ms": 32.0, "window_ms": 32.0},
        "model": {"name": "ds_cnn_s", "params": {"filters": 16, "blocks": 2}},
        "train": {"epochs": 8, "batch_size": 8, "lr": 0.005, "deterministic": False, "early_stopping_patience": 0,
                  "spec_augment": False,
                  **train},
        "export": {"modes": ["int8", "float32"], "calibration_size": 50},
    }


@pytest.fixture(scope="module")
def tone_run(tone_folders, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tones"
    return pipeline.run(tiny_recipe(tone_folders), run_dir, verbose=0)


def test_run_writes_everything(tone_run):
    names = {p.name for p in tone_run.iterdir()}
    for name in ("recipe.yaml", "data.json", "metrics.json", "report.md", "model_int8.tflite", "model_float32.tflite",
                 "training_curves.png", "confusion_int8.png", "confusion_float.png", "history.csv", "model.keras"):
        assert name in names
    assert (tone_run / "checkpoints" / "best_weights.h5").is_file()
    metrics = json.loads((tone_run / "metrics.json").read_text())
    for key in ("accuracy", "float", "artifacts", "model", "model_bytes", "int8_accuracy_drop_points", "train_time_s",
                "labels", "data", "timings_s"):
        assert key in metrics
    test = metrics["artifacts"]["int8"]["test"]
    assert set(test) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    assert set(test["per_class"]["low"]) == {"precision", "recall", "f1", "support"}
    assert np.array(test["confusion_matrix"]).sum() == test["examples"] == metrics["data"]["test"]["clips"]
    assert metrics["model"]["params"] > 0 and metrics["model"]["macs"] > 0
    assert metrics["model_bytes"]["int8"] < metrics["model_bytes"]["float32"]
    # tones are easy: the int8 artifact must actually work, and stay near the float model
    assert test["accuracy"] >= 0.85
    assert abs(metrics["int8_accuracy_drop_points"]) <= 10


def test_artifacts_load_and_classify_files(tone_run, tone_folders, tmp_path):
    bundle = Bundle.load(tone_run / "model_int8.tflite")
    assert bundle.labels == ("low", "high", "_silence_")
    assert bundle.heads[0].background == ("_silence_",)
    assert bundle.inputs[0].dtype == "int8"
    assert bundle.provenance["recipe"]["model"]["name"] == "ds_cnn_s"
    assert bundle.provenance["metrics"]["int8_test_accuracy"] >= 0.85
    rng = np.random.default_rng(99)  # fresh clips, never seen in training
    for label, freq in TONES_HZ.items():
        path = tmp_path / f"{label}.wav"
        soundfile.write(path, tone_clip(freq, rng), RATE)
        assert classify_file(bundle, path).label == label
    float_bundle = Bundle.load(tone_run / "model_float32.tflite")
    assert float_bundle.inputs[0].dtype == "float32"


def test_saved_recipe_is_resolved_and_reloads(tone_run):
    from quantize import recipe

    text = (tone_run / "recipe.yaml").read_text()
    assert "label_smoothing" in text and "spec_time_masks" in text  # defaults were filled in
    again = recipe.load(tone_run / "recipe.yaml")
    assert again.train.epochs == 8 and again.frontend.n_mels == 20


def test_reproducible_with_same_seed(tone_folders, tmp_path):
    from quantize import recipe as qrecipe
    from quantize.train.classifier import Arrays, fit

    parsed = qrecipe.load(tiny_recipe(tone_folders, epochs=1, deterministic=True))
    rng = np.random.default_rng(0)
    x = rng.normal(-6, 3, (48, 31, 20)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    arrays = Arrays(x, y, x[:12], y[:12])
    first = fit(parsed, arrays, tmp_path / "a", verbose=0)[0].get_weights()
    second = fit(parsed, arrays, tmp_path / "b", verbose=0)[0].get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_cli_train_refuses_existing_run(tone_run, tone_folders, tmp_path, capsys):
    import yaml

    from sdk.cli import main

    recipe_path = tmp_path / "tones.yaml"
    recipe_path.write_text(yaml.safe_dump(tiny_recipe(tone_folders)))
    assert main(["train", str(recipe_path), "--out", str(tone_run)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_default_recipe_reduced_end_to_end(tmp_path, speech_wav, capsys):
    """The built-in default recipe (TTS only, no dataset), smaller, end to end; both its artifacts classify a file."""
    from quantize import recipe as qrecipe
    from sdk.cli import main

    values = qrecipe.load("default").resolved()
    values["data"]["sources"][0].update(variants_per_word=40, unknown_words=60)
    values["train"].update(epochs=20, batch_size=32)
    values["teacher"].update(epochs=10, hint_epochs=3, unlabelled=values["teacher"]["unlabelled"][:1])
    values["teacher"]["unlabelled"][0]["max_windows"] = 200
    run_dir = pipeline.run(values, tmp_path / "default", verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["teacher"]["test"]["accuracy"] >= 0.4 and metrics["scratch"]["int8_test"]["accuracy"] >= 0.4
    assert metrics["labels"] == ["yes", "no", "up", "down", "stop", "go", "_unknown_", "_silence_"]
    assert metrics["artifacts"]["int8"]["test"]["accuracy"] >= 0.4  # chance is 1/8; unseen TTS voices
    assert metrics["teacher"]["hint"]["epochs"] == 3  # the student's trunk started from the embedding's
    assert metrics["artifacts"]["embedding_int8"]["test"]["accuracy"] >= 0.4  # the teacher's head, as an artifact
    bundle = Bundle.load(run_dir / "model_int8.tflite")
    assert bundle.labels[0] == "yes"
    for artifact in ("model_int8.tflite", "model_embedding_int8.tflite"):  # a 1 s file, as a user has
        capsys.readouterr()
        assert main(["classify", str(run_dir / artifact), str(speech_wav), "--json"]) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[0])["label"] in metrics["labels"]


def test_source_roles_share_one_speaker_split():
    from quantize import recipe as qrecipe
    from quantize.data.clips import Clip

    parsed = qrecipe.load({"data": {"keywords": ["a"], "sources": [{"kind": "tts"}]}})
    clips = [Clip(f"/x/{s}_{i}.wav", "a", f"spk{s}") for s in range(60) for i in range(3)]
    everything = splits.split_source(clips, "all", parsed)
    assert sum(map(len, everything.values())) == len(clips)
    speakers = {k: {c.speaker for c in v} for k, v in everything.items()}
    assert not (speakers["train"] & speakers["test"]) and not (speakers["val"] & speakers["test"])
    assert splits.split_source(clips, "test", parsed) == {"train": [], "val": [], "test": everything["test"]}
    assert splits.split_source(clips, "eval", parsed) == {"train": [], "val": everything["val"], "test": everything["test"]}
    assert splits.split_source(clips, "train", parsed)["train"] == clips
    fit_parts = splits.split_source(clips, "fit", parsed)
    assert not fit_parts["test"] and len(fit_parts["train"]) + len(fit_parts["val"]) == len(clips)


def test_pinned_test_speakers():
    from quantize import recipe as qrecipe
    from quantize.data.clips import Clip

    parsed = qrecipe.load({"data": {"keywords": ["a"], "sources": [{"kind": "tts"}], "test_speakers": ["theo"]}})
    clips = [Clip(f"/x/{s}_{i}.wav", "a", s) for s in ("theo", "jackson", "nicolas") for i in range(50)]
    parts = splits.split_source(clips, "all", parsed)
    assert {c.speaker for c in parts["test"]} == {"theo"} and len(parts["test"]) == 50
    assert "theo" not in {c.speaker for c in parts["train"] + parts["val"]}
    assert parts["val"] and parts["train"][0].speaker in ("jackson", "nicolas")  # speakers kept on the clips


def test_train_stage_needs_features(tmp_path):
    from quantize import recipe as qrecipe
    from quantize.train.classifier import train
    from sdk.errors import ConfigError

    parsed = qrecipe.load({"data": {"keywords": ["a"], "sources": [{"kind": "tts"}]}})
    with pytest.raises(ConfigError, match=r"features\.npz does not exist"):
        train(parsed, tmp_path)


def test_mixed_precision_and_mirrored_strategy_give_float32_model(tone_folders, tmp_path):
    from quantize import recipe as qrecipe
    from quantize.export.int8 import tensor_types, to_tflite
    from quantize.train.classifier import Arrays, fit

    parsed = qrecipe.load(tiny_recipe(tone_folders, epochs=1, mixed_precision=True, strategy="mirrored"))
    rng = np.random.default_rng(0)
    x = rng.normal(-6, 3, (32, 31, 20)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model, history = fit(parsed, Arrays(x, y, x[:8], y[:8]), tmp_path, verbose=0)
    assert {w.dtype.name for w in model.weights} == {"float32"}
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert set(tensor_types(to_tflite(model, mode="int8", calibration=x)).values()) <= {"int8", "int32"}


def test_compress_section_is_checked_before_any_work(tone_folders, tmp_path):
    from quantize import recipe as qrecipe
    from sdk.errors import ConfigError

    bad = {**tiny_recipe(tone_folders), "compress": [{"prune": {"sparsity": 1.5}}]}
    with pytest.raises(ConfigError, match="sparsity"):
        pipeline.run(qrecipe.load(bad), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_recipe_compress_stages_run_after_training(tone_folders, tmp_path):
    recipe = {**tiny_recipe(tone_folders, epochs=3), "compress": [{"prune": {"sparsity": 0.5, "epochs": 2}}]}
    run_dir = pipeline.run(recipe, tmp_path / "run", verbose=0)
    stage = run_dir / "compress" / "01_prune"
    info = json.loads((stage / "metrics.json").read_text())
    assert info["info"]["sparsity"] >= 0.49
    bundle = Bundle.load(stage / "model_int8.tflite")
    assert bundle.labels == Bundle.load(run_dir / "model_int8.tflite").labels


def test_one_unreadable_file_in_a_short_last_chunk_does_not_abort(tone_folders, tmp_path):
    """Unreadable files are judged over the whole split (5 %), not per chunk of 64 clips."""
    from dataclasses import replace

    from quantize.data.sources import from_folders
    from quantize import recipe as qrecipe

    recipe = qrecipe.load(tiny_recipe(tone_folders))
    clips = from_folders(tone_folders)[:65]  # a chunk of 64, then a last chunk of one clip ...
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    clips[-1] = replace(clips[-1], path=str(bad))  # ... which is unreadable
    x, y, skipped, embeddings = splits.load_split_features(recipe, clips, augment=None, copies=1, seed=0,
                                                             description="test")
    assert len(x) == 64 and len(skipped) == 1 and skipped[0][0] == str(bad) and embeddings is None
    with pytest.raises(Exception, match="unreadable"):
        splits.load_split_features(recipe, clips[:10] + [clips[-1]] * 2, augment=None, copies=1, seed=0,
                                     description="test")

"""The speech-embedding teacher: loading, bad files, the distillation loss, and a run that uses it."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile

pytest.importorskip("tensorflow")
pytest.importorskip("pyopen_wakeword", reason="the teacher needs the 'teacher' extra (pyopen-wakeword)")

from conftest import synthesize  # noqa: E402
from quantize.recipe_checks import validate  # noqa: E402
from quantize.train import objectives as soft_targets  # noqa: E402
from quantize.transfer import teacher
from sdk.errors import ConfigError, ModelError  # noqa: E402

RATE = 16000


@pytest.fixture(scope="module")
def embedding():
    return teacher.SpeechEmbedding()


def test_embedding_shapes_follow_the_clip_length(embedding):
    for seconds, windows in ((1.0, 3), (1.25, 6), (1.5, 9), (2.0, 16)):
        clips = np.zeros((2, int(seconds * RATE)), np.float32)
        out = embedding.embed(clips)
        assert out.shape == (2, windows, teacher.EMBEDDING_SIZE)
        assert teacher.windows_for(clips.shape[1]) == windows


def test_embedding_tells_speech_from_silence_and_is_batch_independent(embedding, speech_wav):
    from sdk.audio import load_audio

    speech = load_audio(speech_wav, RATE)
    speech = np.pad(speech, (0, max(0, RATE - len(speech))))[:RATE]
    clip = teacher.in_context(speech[None], sample_rate=RATE, context_s=1.5)
    silence = np.zeros_like(clip)
    alone = embedding.embed(clip)
    both = embedding.embed(np.concatenate([silence, clip]))
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-4, atol=1e-4)
    assert np.linalg.norm(both[1] - both[0]) > 0.1 * np.linalg.norm(both[0])


def test_in_context_centres_the_clip_and_resamples():
    clip = np.ones((1, 8000), np.float32)  # 1 s at 8 kHz
    out = teacher.in_context(clip, sample_rate=8000, context_s=1.5)
    assert out.shape == (1, 24000)
    middle = out[0, 4000:20000]
    assert abs(float(middle.mean()) - 1.0) < 0.02 and np.all(out[0, :3000] == 0) and np.all(out[0, -3000:] == 0)


def test_a_file_that_is_not_the_teacher_is_named_with_its_shapes(tmp_path, tiny_model_int8):
    mel, _ = teacher.model_files()
    tiny = tiny_model_int8[3]
    with pytest.raises(ModelError, match=r"tiny\.tflite: expected the speech embedding.*found input \[-1, 49, 40\]"):
        teacher.SpeechEmbedding(mel, tiny)
    with pytest.raises(ModelError, match="does not exist"):
        teacher.SpeechEmbedding(mel, tmp_path / "missing.tflite")
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="broken.tflite"):
        teacher.SpeechEmbedding(broken, tiny)


def test_missing_package_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyopen_wakeword" else real(name, *a))
    with pytest.raises(ConfigError, match=r"auricle\[teacher\]"):
        teacher.model_files()


def _hand_loss(hard, soft, p, temperature, alpha):
    """The Hinton loss written out element by element."""
    total = []
    for h, s, q in zip(hard, soft, p):
        z = np.log(q) / temperature
        log_q_t = z - np.log(np.sum(np.exp(z)))
        kl = sum(si * (np.log(si) - lq) for si, lq in zip(s, log_q_t))
        ce = -sum(hi * np.log(qi) for hi, qi in zip(h, q))
        total.append(alpha * temperature**2 * kl + (1 - alpha) * ce)
    return np.array(total)


def test_distillation_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    teacher_p = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    y = np.array([0, 3, 1, -1, 2, -1])  # -1: unlabelled, the teacher's target only
    for temperature, alpha in ((1.0, 0.5), (2.0, 0.7), (4.0, 1.0)):
        soft = soft_targets.soften(teacher_p, temperature)
        rows = soft_targets.targets(y, soft, 4)
        loss = soft_targets.DistillationLoss(4, temperature=temperature, alpha=alpha)
        got = loss.call(rows, p).numpy()
        hard = rows[:, :4]
        np.testing.assert_allclose(got, _hand_loss(hard, soft, p, temperature, alpha), rtol=1e-4)
    assert np.all(rows[[3, 5], :4] == 0)


def test_soften_at_temperature_one_is_identity_and_flattens_above():
    p = np.array([[0.7, 0.2, 0.1]], np.float32)
    np.testing.assert_allclose(soft_targets.soften(p, 1.0), p, rtol=1e-5)
    hot = soft_targets.soften(p, 4.0)
    assert hot[0, 0] < 0.7 and hot[0, 2] > 0.1 and abs(hot.sum() - 1) < 1e-6


def test_label_smoothing_and_unlabelled_rows():
    rows = soft_targets.targets(np.array([1, -1]), None, 3, label_smoothing=0.3)
    np.testing.assert_allclose(rows, [[0.1, 0.8, 0.1], [0, 0, 0]], atol=1e-6)


@pytest.fixture(scope="module")
def word_folders(tmp_path_factory):
    """Two spoken words and a third as _unknown_, by several espeak-ng voices (our own audio)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path_factory.mktemp("words")
    voices = ["en", "en-us", "en-gb-x-rp", "en+f3", "en+m3", "en-us+f2", "en+m7", "en-gb+f4"]
    for word in ("yes", "no", "banana"):
        (root / word).mkdir()
        for i, voice in enumerate(voices):
            for speed in (130, 175):
                synthesize(word, root / word / f"v{i}s{speed}_nohash_0.wav", voice=voice, speed_wpm=speed)
    unlabelled = tmp_path_factory.mktemp("unlabelled")
    synthesize("the quick brown fox jumps over the lazy dog", unlabelled / "sentence.wav")
    return root, unlabelled


def test_a_recipe_with_a_teacher_distils_and_the_artifact_never_references_it(word_folders, tmp_path, monkeypatch):
    from quantize import pipeline
    from quantize.train import classifier
    from sdk.bundle import Bundle

    starts = []  # what each student fit started from: the hint's weights for the distilled one only
    real_fit = classifier.fit

    def spy(recipe, arrays, run_dir, **kwargs):
        starts.append((recipe.teacher is not None, kwargs.get("initial_weights") is not None))
        return real_fit(recipe, arrays, run_dir, **kwargs)

    monkeypatch.setattr(classifier, "fit", spy)

    root, unlabelled = word_folders
    recipe = {
        "name": "taught",
        "data": {"keywords": ["yes", "no"], "unknown": True, "silence": False,
                 "sources": [{"kind": "folders", "path": str(root)}],
                 "split": {"train": 0.6, "val": 0.2, "test": 0.2}, "train_copies": 1},
        "model": {"name": "cnn_small", "params": {"filters": [8, 8, 8]}},
        "train": {"epochs": 2, "batch_size": 16, "deterministic": False, "spec_augment": False},
        "teacher": {"epochs": 3, "unlabelled": [{"path": str(unlabelled), "max_windows": 2}], "hint_epochs": 2},
        "export": {"modes": ["int8"], "calibration_size": 20},
    }
    run = pipeline.run(recipe, tmp_path / "run", verbose=0)
    metrics = json.loads((run / "metrics.json").read_text())
    t = metrics["teacher"]
    assert t["unlabelled_windows"] == 2 and t["bytes"] > 2_000_000
    # the student's trunk first learnt the embedding of every training window, unlabelled ones too
    assert t["hint"]["epochs"] == 2 and t["hint"]["windows"] == metrics["data"]["train"]["windows"] + 2
    assert 0.0 < t["hint"]["val_unexplained"] < 10.0
    # the teacher head and the scratch control start from nothing, the distilled student from the hint
    assert sorted(starts) == [(False, False), (False, False), (True, True)]
    assert 0.0 <= t["test"]["accuracy"] <= 1.0 and t["test"]["examples"] == metrics["float"]["test"]["examples"]
    # the control is the same student architecture (sizes differ only by a few quantization parameters)
    assert abs(metrics["scratch"]["int8_bytes"] - metrics["artifacts"]["int8"]["model_bytes"]) < 200
    assert (run / "scratch" / "model_int8.tflite").is_file() and (run / "teacher" / "head.keras").is_file()
    report_text = (run / "report.md").read_text()
    assert "Distillation gain" in report_text and "first learnt the embedding (2 epochs" in report_text
    # the student trained on the labelled windows plus the teacher-labelled ones
    features = np.load(run / "features.npz") if (run / "features.npz").exists() else None
    assert features is None or int((features["y_train"] < 0).sum()) == 2

    data = (run / "model_int8.tflite").read_bytes()
    bundle = Bundle.load(run / "model_int8.tflite")
    assert len(bundle.inputs) == 1  # one input: Auricle's feature window, never audio or embeddings
    assert tuple(bundle.inputs[0].shape[1:]) == (bundle.frontend.clip_frames, bundle.frontend.num_features)
    assert len(data) < 200_000  # the teacher's 2.4 MB of weights are not in it
    for name in (b"pyopen", b"embedding_model", b"melspectrogram"):
        assert name not in data


def _recipe_with_teacher(root, **teacher_section):
    return {
        "name": "t",
        "data": {"keywords": ["yes", "no"], "unknown": True, "silence": False,
                 "sources": [{"kind": "folders", "path": str(root)}]},
        "teacher": teacher_section,
    }


def test_recipe_names_a_missing_unlabelled_folder(tmp_path):
    from quantize import recipe as qrecipe

    (tmp_path / "yes").mkdir()
    parsed = qrecipe.load(_recipe_with_teacher(tmp_path, unlabelled=[{"path": str(tmp_path / "nowhere")}]))
    with pytest.raises(ConfigError, match=r"teacher\.unlabelled\[0\].*nowhere.*optional: true"):
        validate(parsed)
    optional = qrecipe.load(_recipe_with_teacher(tmp_path, unlabelled=[{"path": str(tmp_path / "nowhere"),
                                                                          "optional": True}]))
    validate(optional)  # skipped with a warning at run time


@pytest.mark.parametrize("bad", [{"temperature": 0}, {"alpha": 1.5}, {"context_s": 0.5}, {"epochs": 0}, {"hint_epochs": -1},
                                 {"tempo": 2}])
def test_recipe_refuses_bad_teacher_settings(tmp_path, bad):
    from quantize import recipe as qrecipe

    with pytest.raises(ConfigError, match="teacher"):
        qrecipe.load(_recipe_with_teacher(tmp_path, **bad))

"""The speech-embedding front end: artifacts whose frames are Google's speech embeddings.

A wake word's teacher head ships as such an artifact (``model_embedding_int8.tflite``);
these tests hold its front end to the teacher's training path, and the Detector,
the Bundle and the firmware export to it.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyopen_wakeword", reason="the speech embedding comes with pyopen-wakeword ('embedding' extra)")

from conftest import build_tiny_model, synthesize  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402
from sdk.frontend import FrontEnd, FrontEndConfig, features  # noqa: E402

RATE = 16000
CLIP_S = 1.75


@pytest.fixture(scope="module")
def config():
    return FrontEndConfig.speech_embedding(CLIP_S)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """ "computer" said by espeak-ng, in 4 s of faint noise at 16 kHz."""
    from sdk.audio import load_audio

    word = load_audio(synthesize("computer", tmp_path_factory.mktemp("embedding") / "computer.wav"), RATE)
    audio = np.random.default_rng(3).normal(0, 0.003, 4 * RATE).astype(np.float32)
    audio[RATE : RATE + word.shape[0]] += word
    return audio


def test_the_geometry_is_the_embedding_models(config):
    assert (config.sample_rate, config.window_samples, config.hop_samples) == (16000, 12640, 1280)
    assert (config.clip_frames, config.num_features) == (13, 96)  # what a teacher head with context_s 1.75 takes
    assert FrontEndConfig.from_dict(config.to_dict()) == config
    old = {k: v for k, v in FrontEndConfig().to_dict().items() if k != "kind"}  # artifacts written before kind
    assert FrontEndConfig.from_dict(old).kind == "log_mel"


@pytest.mark.parametrize("values, message", [
    ({"kind": "mfcc"}, r"kind='mfcc' must be one of \['log_mel', 'speech_embedding'\]"),
    ({"kind": "speech_embedding"}, r"kind=speech_embedding fixes window_ms=790\.0, got 30\.0"),
    ({"kind": "speech_embedding", "window_ms": 790.0, "hop_ms": 80.0, "sample_rate": 8000},
     r"fixes sample_rate=16000, got 8000"),
    ({"kind": "speech_embedding", "window_ms": 790.0, "hop_ms": 80.0, "clip_s": 0.5}, r"clip_s=0\.5 is shorter"),
])
def test_bad_speech_embedding_settings_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        FrontEndConfig(**values)


def test_streaming_and_whole_clip_frames_equal_the_teachers_embeddings(config, speech):
    from quantize.transfer.teacher import SpeechEmbedding

    whole = features(speech, config=config)
    teacher = SpeechEmbedding().embed(speech[None])[0]  # how training computes them: one call on the clip
    np.testing.assert_array_equal(whole, teacher)
    streaming = FrontEnd(config)
    blocks = [streaming.push(speech[i : i + 1000]) for i in range(0, speech.shape[0], 1000)]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
    assert whole.shape == (config.frames_in(speech.shape[0]), 96) and np.abs(whole).max() > 0


@pytest.fixture(scope="module")
def head_bundle(config, tmp_path_factory):
    pytest.importorskip("tensorflow")
    from quantize.export.int8 import to_tflite
    from sdk.bundle import Bundle

    model = build_tiny_model(config)
    calibration = np.random.default_rng(0).normal(0, 1, (64, config.clip_frames, config.num_features))
    tflite = to_tflite(model, mode="int8", calibration=calibration.astype(np.float32))
    path = tmp_path_factory.mktemp("head") / "head_embedding.tflite"
    Bundle.create(tflite, frontend=config, labels=["computer", "_unknown_", "_silence_"], name="head").save(path)
    return Bundle.load(path)


def test_the_detector_scores_each_hop_on_the_windows_embeddings(head_bundle, speech):
    from sdk.detector import Detector
    from sdk.engine import Engine

    fe = head_bundle.frontend
    assert fe.kind == "speech_embedding"
    detector = Detector(head_bundle, threshold=0.99)
    heard = []
    detector.hop_listener = lambda end_s, raw: heard.append((end_s, raw))
    for i in range(0, speech.shape[0], 1600):
        detector.feed(speech[i : i + 1600], RATE)
    assert detector.hop_s == pytest.approx(0.08) and len(heard) == fe.frames_in(speech.shape[0]) - fe.clip_frames + 1
    engine = Engine(head_bundle)
    for end_s, raw in heard[:: 5]:
        end = int(round(end_s * RATE))
        window = features(speech[end - fe.clip_samples : end], config=fe)[None]
        np.testing.assert_allclose(raw, engine.predict_batch(window)[0][0], atol=1e-6)


def test_firmware_export_refuses_a_speech_embedding_artifact_by_name(head_bundle, tmp_path):
    from firmware_bridge.export import export

    with pytest.raises(ConfigError, match=r"head_embedding\.tflite: its front end is speech_embedding"):
        export(head_bundle, tmp_path / "mcu")
    assert not (tmp_path / "mcu").exists()


def test_embedding_export_without_a_teacher_is_refused_when_the_recipe_is_read():
    pytest.importorskip("tensorflow")
    from quantize import recipe as qrecipe
    from quantize.recipe_checks import validate

    recipe = qrecipe.load({"name": "x", "data": {"keywords": ["yes"], "sources": [{"kind": "tts"}]},
                           "export": {"modes": ["int8", "embedding_int8"]}})
    with pytest.raises(ConfigError, match=r"export\.modes asks for 'embedding_int8'.*no teacher: section"):
        validate(recipe)


def test_inspect_and_classify_run_a_speech_embedding_artifact(head_bundle, speech, tmp_path, capsys):
    import soundfile

    from sdk.cli import main

    assert main(["inspect", str(head_bundle.source)]) == 0
    assert "speech embedding (pyopen-wakeword), 96 values per 790 ms window, hop 80 ms, clip 1.75 s" in capsys.readouterr().out
    wav = tmp_path / "computer.wav"
    soundfile.write(wav, speech, RATE)
    assert main(["classify", str(head_bundle.source), str(wav)]) == 0
    assert any(label in capsys.readouterr().out for label in ("computer", "_unknown_", "_silence_"))

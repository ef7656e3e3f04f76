"""Shared fixtures: audio we make ourselves, a tiny model, and the real data when present."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("AURICLE_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """../shared/data (real recordings); tests that need it skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not present at {SHARED_DATA}")
    return SHARED_DATA


def synthesize(text: str, path: pathlib.Path, *, voice: str = "en", speed_wpm: int = 160) -> pathlib.Path:
    """Speak ``text`` into a WAV file with espeak-ng (22.05 kHz mono int16)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(path), text], check=True)
    return path


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> pathlib.Path:
    return synthesize("yes", tmp_path_factory.mktemp("speech") / "yes.wav")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def tone(freq_hz: float, duration_s: float, sample_rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)

TONES_HZ = {"low": 400.0, "high": 2500.0}  # two "keywords" any model learns in seconds


def tone_clip(freq_hz: float, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A tone burst of random length and place in 1 s of faint noise."""
    clip = rng.normal(0, 0.01, sample_rate).astype(np.float32)
    length_s = rng.uniform(0.3, 0.6)
    burst = tone(freq_hz * rng.uniform(0.9, 1.1), length_s, sample_rate, amplitude=rng.uniform(0.2, 0.6))
    start = rng.integers(0, sample_rate - burst.size)
    clip[start : start + burst.size] += burst
    return clip


@pytest.fixture(scope="module")
def tone_folders(tmp_path_factory):
    """Speech Commands layout: ``low/`` and ``high/``, 40 one-second tone clips each."""
    import soundfile

    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(5)
    for label, freq in TONES_HZ.items():
        (root / label).mkdir()
        for i in range(40):
            soundfile.write(root / label / f"s{i:02d}_nohash_0.wav", tone_clip(freq, rng), 16000, subtype="PCM_16")
    return root



def build_tiny_model(frontend, num_labels: int = 3, seed: int = 0):
    """A small tf-keras CNN over ``(frames, features)`` windows, untrained."""
    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    keras.utils.set_random_seed(seed)  # Python, NumPy and TF: tf.random.set_seed alone left the weights varying per run
    inputs = keras.Input((frontend.clip_frames, frontend.num_features))
    x = keras.layers.Reshape((frontend.clip_frames, frontend.num_features, 1))(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_labels, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="session")
def tiny_model_int8(tmp_path_factory):
    """(keras model, int8 tflite bytes, calibration windows, bundle path) for a 3-label model."""
    pytest.importorskip("tensorflow")
    from quantize.export.int8 import to_tflite
    from sdk import Bundle, FrontEndConfig

    frontend = FrontEndConfig()
    model = build_tiny_model(frontend)
    calibration = np.random.default_rng(0).normal(-6, 3, (64, frontend.clip_frames, frontend.num_features))
    calibration = calibration.astype(np.float32)
    tflite = to_tflite(model, mode="int8", calibration=calibration)
    bundle = Bundle.create(tflite, frontend=frontend, labels=["yes", "no", "_silence_"], name="tiny")
    path = tmp_path_factory.mktemp("models") / "tiny.tflite"
    bundle.save(path)
    return model, tflite, calibration, path


@pytest.fixture(scope="session")
def yes_bundle():
    """The tiny espeak-trained "yes" detector of tests/stream_model.py (trained once, cached on disk)."""
    import stream_model

    if not stream_model.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    pytest.importorskip("tensorflow")
    from sdk import Bundle

    return Bundle.load(stream_model.yes_bundle_path())


def separable_arrays(count: int, *, shape=(16, 10), classes: int = 3, seed: int = 0):
    """Feature windows whose class shows as a raised band of 3 features: learnable in a few epochs."""
    from quantize.train.fit import Arrays

    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, count)
    x = rng.normal(size=(count, *shape)).astype(np.float32)
    for c in range(classes):
        x[y == c, :, 3 * c : 3 * c + 3] += 2.0
    return Arrays(x, y, x[:32], y[:32], x[:32], y[:32])


def one_window_features(frontend, audio_path) -> np.ndarray:
    """``(1, frames, features)`` for a clip no longer than one window, padded (centred) to one."""
    from sdk.audio import fit_length, load_audio
    from sdk.frontend import features

    samples = load_audio(audio_path, frontend.sample_rate)
    assert samples.shape[0] <= frontend.clip_samples, "one window only"
    return features(fit_length(samples, frontend.clip_samples), config=frontend)[None].astype(np.float32)


def one_window_scores(model: bytes, frontend, audio_path) -> np.ndarray:
    """Scores for a clip no longer than one window, the long way round: a bare LiteRT
    interpreter, input and output (de)quantized by hand from the tensor details. A
    reference for ``classify`` that shares only the front end with it."""
    from ai_edge_litert.interpreter import Interpreter

    window = one_window_features(frontend, audio_path)
    interpreter = Interpreter(model_content=bytes(model))
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if given["dtype"] == np.int8:
        scale, zero = given["quantization"]
        window = np.clip(np.round(window / scale) + zero, -128, 127).astype(np.int8)
    interpreter.set_tensor(given["index"], window.reshape(given["shape"]))
    interpreter.invoke()
    scores = interpreter.get_tensor(out["index"])[0]
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        scores = (scores.astype(np.float32) - zero) * scale
    return scores.astype(np.float32)

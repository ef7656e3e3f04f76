"""A tiny keyword model that really detects "yes", trained in seconds for the stream tests.

Clips are espeak-ng speech (several voices, speeds and pitches) of "yes", of
other words (``_unknown_``) and noise (``_silence_``), shifted inside the
one-second window and mixed with noise. One voice, ``HELD_OUT_VOICE``, is kept
out of training so the stream tests hear a speaker the model has not heard.
Built once per test session (``functools.lru_cache``).
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile

import numpy as np

TRAIN_VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
HELD_OUT_VOICE = "en-gb-x-gbcwmd"
OTHER_WORDS = ("no", "go", "stop", "left", "house", "seven", "right", "down", "up", "on", "bird", "wow")
LABELS = ("yes", "_unknown_", "_silence_")


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, *, voice: str = "en", speed_wpm: int = 160, pitch: int = 50, sample_rate: int = 16000) -> np.ndarray:
    """espeak-ng speech as float32 at ``sample_rate``, leading and trailing silence trimmed."""
    import soundfile

    from sdk.audio import resample

    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    samples = samples[loud[0] : loud[-1] + 1] if loud.size else samples
    return resample(samples, rate, sample_rate)


def noise(rng: np.random.Generator, num_samples: int, level_db: float) -> np.ndarray:
    """White or brown-ish noise at an RMS of ``level_db`` dBFS."""
    x = rng.normal(size=num_samples)
    if rng.random() < 0.5:
        x = np.cumsum(x)
        x -= np.convolve(x, np.ones(64) / 64, mode="same")  # keep it from drifting
    x = x / (np.sqrt(np.mean(x**2)) + 1e-12) * 10 ** (level_db / 20)
    return x.astype(np.float32)


def place(clip: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(num_samples, np.float32)
    clip = clip[:num_samples]
    start = int(rng.integers(0, num_samples - clip.shape[0] + 1))
    out[start : start + clip.shape[0]] = clip
    return out


def _dataset(frontend, rng):
    from sdk.frontend import features

    n = frontend.clip_samples
    yes = [speak("yes", voice=v, speed_wpm=s, pitch=p) for v in TRAIN_VOICES for s in (120, 160, 200) for p in (30, 50, 70)]
    other = [speak(w, voice=v, speed_wpm=s) for w in OTHER_WORDS for v in TRAIN_VOICES for s in (130, 190)]
    windows, targets = [], []

    def add(samples, target):
        windows.append(features(samples, config=frontend))
        targets.append(target)

    for _ in range(6):
        for clip in yes:
            add(place(clip * rng.uniform(0.3, 1.0), n, rng) + noise(rng, n, rng.uniform(-70, -35)), 0)
    for _ in range(4):
        for clip in other:
            add(place(clip * rng.uniform(0.3, 1.0), n, rng) + noise(rng, n, rng.uniform(-70, -35)), 1)
    for clip in yes:  # a cut-off "yes" is not a "yes"
        part = clip[: int(clip.shape[0] * rng.uniform(0.15, 0.4))]
        add(place(part, n, rng) + noise(rng, n, -60), 1)
    for _ in range(300):
        add(noise(rng, n, rng.uniform(-90, -25)), 2)
    return np.stack(windows).astype(np.float32), np.array(targets)


def build_keras_model(frontend, num_labels: int = 3):
    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    inputs = keras.Input((frontend.clip_frames, frontend.num_features))
    x = keras.layers.Reshape((frontend.clip_frames, frontend.num_features, 1))(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(12, (3, 3), strides=(1, 2), activation="relu")(x)
    x = keras.layers.Conv2D(16, (3, 3), strides=(2, 2), activation="relu")(x)
    x = keras.layers.Conv2D(24, (3, 3), strides=(2, 2), activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_labels, activation="softmax")(x)
    return keras.Model(inputs, outputs)


CACHE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "test-models")


def _recipe_digest() -> str:
    """Changes when anything that shapes the model changes: this file, the front end, the exporter."""
    import hashlib

    import tensorflow as tf

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256(tf.__version__.encode())
    for name in ("tests/stream_model.py", "sdk/frontend.py", "quantize/export/int8.py"):
        with open(os.path.join(root, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def yes_bundle_path() -> str:
    """The "yes" model's artifact path: from .cache/test-models, or trained now (about 15 s) and cached.

    Set AURICLE_RETRAIN=1 to ignore the cache.
    """
    path = os.path.join(CACHE, f"yes-{_recipe_digest()}.tflite")
    if os.path.exists(path) and not os.environ.get("AURICLE_RETRAIN"):
        return path
    os.makedirs(CACHE, exist_ok=True)
    fresh = _train_yes_bundle()
    os.replace(fresh, path)  # atomic: parallel sessions never see half a file
    os.rmdir(os.path.dirname(fresh))
    return path


def _train_yes_bundle() -> str:
    import quantize  # noqa: F401
    import tensorflow as tf

    from quantize.export.int8 import to_tflite
    from sdk.bundle import Bundle, DetectionDefaults, Head
    from sdk.frontend import FrontEndConfig

    import tf_keras as keras

    seed = int(os.environ.get("AURICLE_TEST_SEED", "0"))
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # the same model from the same inputs, run after run
    rng = np.random.default_rng(seed)
    frontend = FrontEndConfig()
    x, y = _dataset(frontend, rng)
    model = build_keras_model(frontend)
    model.compile(optimizer=tf_keras_adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=16, batch_size=32, shuffle=True, verbose=0)
    tflite = to_tflite(model, mode="int8", calibration=x[rng.permutation(len(x))[:300]])
    bundle = Bundle.create(
        tflite,
        frontend=frontend,
        heads=[Head("keyword", LABELS, background=("_unknown_", "_silence_"))],
        name="yes-tiny",
        detection=DetectionDefaults(threshold=0.6, smoothing_s=0.3, refractory_s=1.0, min_count=2, hop_s=0.1),
        provenance={"data": "espeak-ng synthetic, tests/stream_model.py"},
    )
    path = os.path.join(tempfile.mkdtemp(prefix="auricle-stream-", dir=CACHE), "yes.tflite")
    bundle.save(path)
    return path


def tf_keras_adam(learning_rate: float):
    import tf_keras as keras

    return keras.optimizers.Adam(learning_rate)


def build_streamable_model(frontend, num_labels: int = 3):
    """Like build_keras_model, but with time stride 1 everywhere, so quantize.export.streaming can convert it."""
    import quantize  # noqa: F401
    import tf_keras as keras

    inputs = keras.Input((frontend.clip_frames, frontend.num_features))
    x = keras.layers.Reshape((frontend.clip_frames, frontend.num_features, 1))(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(12, (3, 3), strides=(1, 2), activation="relu")(x)
    x = keras.layers.Conv2D(16, (3, 3), strides=(1, 2), activation="relu")(x)
    x = keras.layers.Conv2D(24, (3, 3), dilation_rate=(2, 1), activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_labels, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@functools.lru_cache(maxsize=1)
def yes_streaming_bundle_paths() -> tuple[str, str]:
    """(whole-window int8 artifact, streaming int8 artifact) of one streamable "yes" model, cached like yes_bundle_path."""
    digest = _recipe_digest()
    paths = tuple(os.path.join(CACHE, f"yes-{kind}-{digest}.tflite") for kind in ("window", "streaming"))
    if all(os.path.exists(p) for p in paths) and not os.environ.get("AURICLE_RETRAIN"):
        return paths
    os.makedirs(CACHE, exist_ok=True)
    import quantize  # noqa: F401
    import tensorflow as tf

    from quantize.export.int8 import to_tflite
    from quantize.export.streaming import streaming_metadata, to_streaming, to_streaming_tflite
    from sdk.bundle import Bundle, DetectionDefaults, Head
    from sdk.frontend import FrontEndConfig, features

    import tf_keras as keras

    keras.utils.set_random_seed(1)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(1)
    frontend = FrontEndConfig()
    x, y = _dataset(frontend, rng)
    model = build_streamable_model(frontend)
    model.compile(optimizer=tf_keras_adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, shuffle=True, verbose=0)
    detection = DetectionDefaults(threshold=0.6, smoothing_s=0.3, refractory_s=1.0, min_count=2, hop_s=0.1)
    common = dict(frontend=frontend, heads=[Head("keyword", LABELS, background=("_unknown_", "_silence_"))],
                  detection=detection, provenance={"data": "espeak-ng synthetic, tests/stream_model.py"})
    window = Bundle.create(to_tflite(model, mode="int8", calibration=x[rng.permutation(len(x))[:300]]),
                           name="yes-streamable-window", **common)
    streaming_model = to_streaming(model, frames_per_step=5)  # one 0.1 s hop
    calibration = np.concatenate([features(np.concatenate([noise(rng, 8000, -45), place(c, 16000, rng)]),
                                           config=frontend) for c in [speak("yes", voice=v) for v in TRAIN_VOICES]])
    streaming = Bundle.create(to_streaming_tflite(streaming_model, mode="int8", calibration=calibration),
                              name="yes-streamable-streaming", streaming=streaming_metadata(streaming_model), **common)
    for bundle, path in zip((window, streaming), paths):
        tmp = path + f".{os.getpid()}.tmp"
        bundle.save(tmp)
        os.replace(tmp, path)
    return paths


@functools.lru_cache(maxsize=4)
def wide_streamable_paths(channels: int = 64) -> tuple[str, str]:
    """(window, streaming) int8 artifacts of an untrained DS-CNN-sized streamable model, for cost benchmarks.

    Cost does not depend on the weights, so these are random (seeded) and calibrated on noise features.
    """
    key = f"wide{channels}-{_recipe_digest()}"
    paths = tuple(os.path.join(CACHE, f"{key}-{kind}.tflite") for kind in ("window", "streaming"))
    if all(os.path.exists(p) for p in paths) and not os.environ.get("AURICLE_RETRAIN"):
        return paths
    os.makedirs(CACHE, exist_ok=True)
    import quantize  # noqa: F401
    import tf_keras as keras

    from quantize.export.int8 import to_tflite
    from quantize.export.streaming import streaming_metadata, to_streaming, to_streaming_tflite
    from sdk.bundle import Bundle, Head
    from sdk.frontend import FrontEndConfig, features

    keras.utils.set_random_seed(0)
    frontend = FrontEndConfig()
    inputs = keras.Input((frontend.clip_frames, frontend.num_features))
    x = keras.layers.Reshape((frontend.clip_frames, frontend.num_features, 1))(inputs)
    x = keras.layers.Conv2D(channels, (5, 3), strides=(1, 2), activation="relu")(x)
    for dilation in (1, 2, 4):
        x = keras.layers.DepthwiseConv2D((3, 3), dilation_rate=(dilation, 1), activation="relu")(x)
        x = keras.layers.Conv2D(channels, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    rng = np.random.default_rng(0)
    sequence = features(noise(rng, 16000 * 20, -40), config=frontend)
    windows = np.stack([sequence[s : s + frontend.clip_frames] for s in range(0, 900, 10)])
    head = [Head("keyword", LABELS, background=("_unknown_", "_silence_"))]
    streaming_model = to_streaming(model, frames_per_step=5)
    bundles = (
        Bundle.create(to_tflite(model, mode="int8", calibration=windows), frontend=frontend, heads=head,
                      name=f"wide{channels}-window"),
        Bundle.create(to_streaming_tflite(streaming_model, mode="int8", calibration=sequence), frontend=frontend,
                      heads=head, name=f"wide{channels}-streaming", streaming=streaming_metadata(streaming_model)),
    )
    for bundle, path in zip(bundles, paths):
        tmp = path + f".{os.getpid()}.tmp"
        bundle.save(tmp)
        os.replace(tmp, path)
    return paths

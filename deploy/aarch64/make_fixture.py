"""x86-64 side of the aarch64 check: a small trained int8 model and a test clip.

Trains a tiny CNN for a few seconds to tell a low tone, a high tone and quiet
noise apart (so the top label is decided by a margin, not by a tie of an
untrained net), exports it to int8 with ``quantize.export.int8.to_tflite``, and
writes a 44.1 kHz stereo clip so the runtime's resampling runs on both sides.
Needs the ``train`` extra (TensorFlow); the aarch64 root never sees it.

    python deploy/aarch64/make_fixture.py OUT_DIR
"""
from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))  # the source tree

import numpy as np
import soundfile as sf

import quantize  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.export.int8 import to_tflite
from sdk import Bundle, FrontEndConfig, features

LABELS = ["low", "high", "_silence_"]
CLIP_RATE_HZ = 44100


def _example(kind: int, rng: np.random.Generator, frontend: FrontEndConfig) -> np.ndarray:
    n = frontend.clip_samples
    t = np.arange(n) / frontend.sample_rate
    noise = rng.normal(0, 0.003, n)
    if kind == 2:
        return (noise * rng.uniform(0.5, 3)).astype(np.float32)
    freq_hz = rng.uniform(300, 600) if kind == 0 else rng.uniform(2500, 3500)
    return (rng.uniform(0.1, 0.6) * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 6)) + noise).astype(np.float32)


def main(out_dir: str) -> None:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frontend = FrontEndConfig()
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(LABELS)), 40)
    x = np.stack([features(_example(k, rng, frontend), config=frontend) for k in labels]).astype(np.float32)

    tf.random.set_seed(0)
    inputs = keras.Input((frontend.clip_frames, frontend.num_features))
    h = keras.layers.Reshape((frontend.clip_frames, frontend.num_features, 1))(inputs)
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(len(LABELS), activation="softmax")(h))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=15, batch_size=16, shuffle=True, verbose=0)
    print(f"train accuracy {history.history['accuracy'][-1]:.3f}", file=sys.stderr)

    tflite = to_tflite(model, mode="int8", calibration=x)
    bundle = Bundle.create(tflite, frontend=frontend, labels=LABELS, name="tones",
                           provenance={"recipe": "deploy/aarch64/make_fixture.py"})
    bundle.save(out / "tones.tflite")

    # 2 s at 44.1 kHz, stereo: quiet, then a 3 kHz tone, then quiet.
    t = np.arange(2 * CLIP_RATE_HZ) / CLIP_RATE_HZ
    tone = 0.3 * np.sin(2 * np.pi * 3000 * t) * ((t > 0.6) & (t < 1.5))
    mono = tone + np.random.default_rng(1).normal(0, 0.003, t.size)
    sf.write(out / "high.wav", np.stack([mono, 0.8 * mono], axis=1).astype(np.float32), CLIP_RATE_HZ, subtype="PCM_16")
    print(out / "tones.tflite", out / "high.wav")


if __name__ == "__main__":
    main(sys.argv[1])

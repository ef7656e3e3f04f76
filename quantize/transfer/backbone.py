"""A small pretrained audio backbone that ships inside the package.

The trunk is a DS-CNN (Zhang et al. 2017) over the standard front end
(``FrontEndConfig()``: 49 frames x 40 log-mel); its global-average-pooled
output is the embedding. It was trained here on a word/sound classification
pretext task (see docs/backbone.md and :func:`pretext_data`); re-run with::

    python -m quantize.transfer.backbone --out quantize/assets/backbone_v1.h5

Layers are named by stage (``stem_*``, ``block1_*`` ... ``blockN_*``) so that
fine-tuning can freeze and unfreeze them stage by stage.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import time
import warnings

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.train.zoo import classifier_head
from quantize.train.fit import Arrays, FitPlan, fit
from sdk.errors import ConfigError, ModelError
from sdk.frontend import FrontEndConfig

log = logging.getLogger(__name__)

DEFAULT_PATH = pathlib.Path(__file__).resolve().parents[1] / "assets" / "backbone_v1.h5"
EMBEDDING_DIM = 64
FEATURE_MEAN, FEATURE_STD = -6.0, 5.0  # of log-mel features over the pretext data (FrontEndConfig())
BN_MOMENTUM = 0.9  # few hundred steps per run: moving statistics must keep up
_ATTR = "auricle_backbone"  # HDF5 attribute holding the front end and training facts


def build_trunk(input_shape=(49, 40), *, filters: int = EMBEDDING_DIM, blocks: int = 4, name: str = "backbone") -> keras.Model:
    """DS-CNN trunk ``(frames, features) -> (filters,)`` embedding, layers named by stage."""
    inputs = keras.Input(tuple(input_shape), name="features")
    # Log-mel values span about -14 (silence) to +7; a fixed affine map brings them near N(0, 1)
    # so the first batch norm is not chasing a large, drifting mean.
    x = keras.layers.Rescaling(1.0 / FEATURE_STD, offset=-FEATURE_MEAN / FEATURE_STD, name="stem_scale")(inputs)
    x = keras.layers.Reshape((*input_shape, 1), name="stem_reshape")(x)
    x = keras.layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for b in range(1, blocks + 1):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"block{b}_dw")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{b}_dw_bn")(x)
        x = keras.layers.ReLU(name=f"block{b}_dw_relu")(x)
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"block{b}_pw")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{b}_pw_bn")(x)
        x = keras.layers.ReLU(name=f"block{b}_pw_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    return keras.Model(inputs, x, name=name)


def stages(trunk: keras.Model) -> list[str]:
    """Stage names from input to output: ``["stem", "block1", ...]``."""
    names = []
    for layer in trunk.layers:
        stage = layer.name.split("_")[0]
        if stage in ("stem",) or stage.startswith("block"):
            if stage not in names:
                names.append(stage)
    return names


def stage_layers(trunk: keras.Model, stage: str) -> list:
    return [layer for layer in trunk.layers if layer.name.split("_")[0] == stage]


def save_backbone(trunk: keras.Model, path, *, frontend: FrontEndConfig, training: dict | None = None) -> None:
    """Write the trunk as a Keras HDF5 model, with the front end and training facts as an attribute."""
    import h5py

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # HDF5 is "legacy" to Keras, but one portable file is what we ship
        warnings.simplefilter("ignore", UserWarning)
        trunk.save(path, include_optimizer=False, save_format="h5")
    with h5py.File(path, "a") as f:
        f.attrs[_ATTR] = json.dumps({"frontend": frontend.to_dict(), "training": training or {}})


def backbone_info(path=DEFAULT_PATH) -> dict:
    """The front end and training facts stored with a backbone file."""
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: backbone file does not exist (the package ships {DEFAULT_PATH.name} in quantize/assets)")
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs[_ATTR])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"{path}: not an Auricle backbone (HDF5 with a {_ATTR!r} attribute): {exc}") from None


def load_backbone(path=DEFAULT_PATH, *, frontend: FrontEndConfig | None = None, name: str = "backbone") -> keras.Model:
    """The pretrained trunk: a Keras model ``(batch, 49, 40) -> (batch, EMBEDDING_DIM)``.

    Raises ``ModelError`` for a missing or corrupted file, ``ConfigError`` when
    ``frontend`` differs from the one the backbone was trained on.
    """
    info = backbone_info(path)
    trained_on = FrontEndConfig.from_dict(info["frontend"])
    if frontend is not None and frontend != trained_on:
        raise ConfigError(
            f"{path}: backbone was trained on front end {trained_on.to_dict()}, not {frontend.to_dict()}; "
            "use the same FrontEndConfig or train a backbone for yours"
        )
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # h5py / Keras raise many kinds for a damaged file
        raise ModelError(f"{path}: cannot load backbone weights ({type(exc).__name__}: {exc})") from None
    model._name = name
    return model


def embed(x: np.ndarray, trunk: keras.Model | None = None, *, batch_size: int = 256) -> np.ndarray:
    """Embeddings ``(n, EMBEDDING_DIM)`` of feature windows ``(n, 49, 40)``."""
    trunk = trunk or load_backbone()
    return trunk.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0)


# ------------------------------------------------------------ pretext training


def pretext_words(count: int = 50) -> list[str]:
    """Single TTS words for the pretext task: digits first, never the Speech Commands keywords."""
    from quantize.data.tasks import SC_KEYWORDS
    from quantize.data.tts import UNKNOWN_WORDS

    return [w for w in UNKNOWN_WORDS if " " not in w and w not in SC_KEYWORDS][:count]


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def pretext_data(root=None, *, words: int = 50, tts_variants: int = 10, fsdd_per_digit: int = 100,
                 music_windows: int = 100, tts_dir=".cache/tts", frontend: FrontEndConfig | None = None,
                 seed: int = 0):
    """``(x, y, labels, counts)`` of the pretext task.

    Classes: TTS words (three engines, many voices; digits shared with FSDD's
    real speakers), ESC-50 categories (train files only), and MUSAN
    music/noise/speech (train files/time span only). No Speech Commands and
    no RAVDESS audio: those speakers are evaluation data.
    """
    from quantize.data import data_root, tasks
    from quantize.data import tts
    from quantize.data.augment import AugmentConfig
    from quantize.data.clips import Clip

    fe = frontend or FrontEndConfig()
    word_list = pretext_words(words)
    tts_clips = tts.synthesize(word_list, tts_dir, variants_per_word=tts_variants, seed=seed, clip_s=fe.clip_s)
    root = data_root(root, must_exist=True)
    rows = tasks._rows(root / "fsdd")
    rng = np.random.default_rng(seed)
    fsdd = []
    for digit in range(10):
        mine = [r for r in rows if r["digit"] == str(digit)]
        for i in rng.choice(len(mine), min(fsdd_per_digit, len(mine)), replace=False):
            fsdd.append(Clip(str(root / "fsdd" / mine[i]["path"]), DIGIT_WORDS[digit], mine[i]["speaker"]))
    esc = [w for c in tasks.esc50_split(root)["train"] for w in tasks.windows(c.path, "esc:" + c.label, c.speaker)]
    musan = tasks.musan_windows(root, split="train")
    music = [c for c in musan if c.label == "music"]
    music = [music[i] for i in sorted(rng.choice(len(music), min(music_windows, len(music)), replace=False))]
    musan = [Clip(c.path, "musan:" + c.label, c.speaker, c.source, c.start_s) for c in musan if c.label != "music"]
    musan += [Clip(c.path, "musan:music", c.speaker, c.source, c.start_s) for c in music]
    groups = {"tts": list(tts_clips), "fsdd": fsdd, "esc50": esc, "musan": musan}
    labels = sorted({c.label for clips in groups.values() for c in clips})
    augment = AugmentConfig(noise_prob=0.5, reverb_prob=0.3, snr_db=(5.0, 25.0))
    xs, ys = [], []
    for name, clips in groups.items():
        copies = 2 if name == "tts" else 1
        x, y = tasks.cached_features(clips, fe, labels, augment=augment, copies=copies, seed=seed, tag="pretext:" + name)
        xs.append(x)
        ys.append(y)
    counts = {name: int(len(y)) for name, y in zip(groups, ys)}
    return np.concatenate(xs), np.concatenate(ys), labels, counts


def train_backbone(out, *, root=None, epochs: int = 20, batch_size: int = 64, seed: int = 0, words: int = 50,
                   tts_variants: int = 10) -> dict:
    """Train the pretext classifier and save its trunk to ``out``; returns the facts written to docs."""
    start = time.time()
    fe = FrontEndConfig()
    x, y, labels, counts = pretext_data(root, words=words, tts_variants=tts_variants, frontend=fe, seed=seed)
    data_s = time.time() - start
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_val = len(y) // 10
    val, train = order[:n_val], order[n_val:]
    tf.random.set_seed(seed)
    trunk = build_trunk((fe.clip_frames, fe.num_features))
    inputs = keras.Input(trunk.input_shape[1:])
    model = keras.Model(inputs, classifier_head(trunk(inputs), len(labels), dropout=0.2, name="pretext"))
    # Adam, cosine decay from 3e-3 to zero, the last epoch's weights (as the trunk has always shipped)
    plan = FitPlan(epochs=epochs, batch_size=batch_size, lr=3e-3, best_weights="last", seed=None)
    t0 = time.time()
    _, history = fit(model, Arrays(x[train], y[train], x[val], y[val]), plan, label="epochs (backbone)", verbose=2)
    facts = {
        "pretext_classes": len(labels),
        "examples": counts,
        "train_examples": int(len(train)),
        "val_examples": int(len(val)),
        "val_accuracy": round(float(history["val_accuracy"][-1]), 4),
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "feature_s": round(data_s, 1),
        "train_s": round(time.time() - t0, 1),
        "params": int(trunk.count_params()),
        "embedding_dim": int(trunk.output_shape[-1]),
        "labels": labels,
    }
    save_backbone(trunk, out, frontend=fe, training=facts)
    facts["file_bytes"] = pathlib.Path(out).stat().st_size
    return facts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the shipped audio backbone (pretext word/sound classification).")
    parser.add_argument("--out", default=str(DEFAULT_PATH))
    parser.add_argument("--data", default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--words", type=int, default=50)
    parser.add_argument("--tts-variants", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    facts = train_backbone(args.out, root=args.data, epochs=args.epochs, seed=args.seed, words=args.words,
                           tts_variants=args.tts_variants)
    print(json.dumps({k: v for k, v in facts.items() if k != "labels"}, indent=1))


if __name__ == "__main__":
    main()

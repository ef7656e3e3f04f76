"""The speech-embedding teacher for transfer tasks: few-shot words, emotion, sounds.

``quantize.transfer.teach`` distils inside a keyword recipe's pipeline. The transfer
benchmarks start from clip lists instead (``quantize.data.tasks``), so this module
gives them the same three steps on arrays, all through the one ``fit`` (``quantize.train.classifier.fit``):

1. :func:`features_and_embeddings`: Auricle features and teacher embeddings
   of the same (augmented) audio, cached as ``.npz``;
2. :func:`train_head`: the teacher head (``zoo.embedding_head``) on embeddings;
3. :func:`distil`: a zoo student on features, with the head's softened
   probabilities as targets (``quantize.train.objectives``), unlabelled rows
   (``y = -1``) included.

:func:`transfer_recipe` writes the recipe these need for a label set, so a
benchmark states its schedule in one place.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from dataclasses import asdict

import numpy as np

from quantize.train import objectives as soft_targets
from quantize.train.fit import Arrays
from quantize.recipe import Recipe
from quantize.transfer.teacher import SAMPLE_RATE, SpeechEmbedding, in_context
from sdk.errors import ConfigError


def transfer_recipe(labels, *, model: str = "ds_cnn_s", params: dict | None = None, epochs: int = 30,
                    lr: float = 3e-3, batch_size: int = 64, seed: int = 0, teacher: dict | None = None,
                    train: dict | None = None) -> Recipe:
    """A recipe for ``labels`` (no _unknown_ / _silence_ classes) that only ``quantize.train.classifier.fit`` reads.

    ``teacher``: the ``teacher:`` section (``context_s``, ``head``, ``epochs``,
    ``temperature``, ``alpha`` ...); ``train``: more ``train:`` options.
    """
    labels = [str(label) for label in labels]
    if len(labels) < 2:
        raise ConfigError(f"transfer_recipe: labels={labels} need at least two classes")
    return Recipe.model_validate({
        "seed": seed,
        # data is described for the record only: the caller passes arrays to classifier.fit
        "data": {"keywords": labels, "unknown": False, "silence": False,
                 "sources": [{"kind": "folders", "path": "<arrays>"}]},
        "model": {"name": model, "params": dict(params or {})},
        "train": {"epochs": epochs, "lr": lr, "batch_size": batch_size, **(train or {})},
        "teacher": dict(teacher or {}),
    })


def _cache_path(cache_dir, key) -> pathlib.Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return pathlib.Path(cache_dir) / f"{digest}.npz"


def embed_audio(audio: np.ndarray, *, sample_rate: int, context_s: float | None, model=None) -> np.ndarray:
    """``(n, windows, 96)`` embeddings of equal-length clips, centred in ``context_s`` (None: as they are)."""
    model = model or SpeechEmbedding()
    audio = np.atleast_2d(np.asarray(audio, np.float32))
    if context_s is not None:
        audio = in_context(audio, sample_rate=sample_rate, context_s=context_s)
    elif sample_rate != SAMPLE_RATE:
        audio = in_context(audio, sample_rate=sample_rate, context_s=audio.shape[1] / sample_rate)
    return np.concatenate([model.embed(audio[k : k + 256]) for k in range(0, len(audio), 256)])


def features_and_embeddings(clips, frontend, labels, *, context_s: float | None = 1.25, augment=None,
                            copies: int = 1, seed: int = 0, cache_dir=None, tag: str = "", model=None):
    """``(x, y, e)``: features, labels and teacher embeddings of the same audio, row for row.

    Clips are fitted to ``frontend.clip_s`` (the student's window); the
    teacher hears each window centred in ``context_s`` seconds. Cached in
    ``cache_dir`` (when given) by clips, labels, front end, augmentation and context.
    """
    from quantize.data.windows import load_features

    key = [[asdict(c) for c in clips], list(labels), frontend.to_dict(), repr(augment), copies, seed, context_s, tag]
    path = _cache_path(cache_dir, key) if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as f:
            return f["x"], f["y"], f["e"]
    feats = load_features(clips, frontend, labels=labels, augment=augment, copies=copies, seed=seed, keep_audio=True)
    x, y = feats
    e = embed_audio(feats.audio, sample_rate=frontend.sample_rate, context_s=context_s, model=model)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, x=x, y=y, e=e)
    return x, y, e


def train_head(recipe: Recipe, e_train, y_train, e_val, y_val, run_dir, *, verbose: int = 0):
    """The teacher head on embeddings, trained by ``quantize.train.classifier.fit`` with ``teach.head_recipe``."""
    from quantize.transfer.teach import head_recipe
    from quantize.train.classifier import fit

    if recipe.teacher is None:
        raise ConfigError(f"{recipe.source}: train_head needs a recipe with a teacher: section")
    head, _ = fit(head_recipe(recipe), Arrays(e_train, y_train, e_val, y_val), run_dir, verbose=verbose)
    return head


def distil(recipe: Recipe, head, arrays: Arrays, e_train, run_dir, *, verbose: int = 0):
    """A zoo student trained on ``arrays`` with ``head``'s soft targets on ``e_train`` (row for row)."""
    from quantize.train.classifier import fit

    if recipe.teacher is None:
        raise ConfigError(f"{recipe.source}: distil needs a recipe with a teacher: section")
    if len(e_train) != len(arrays.x_train):
        raise ConfigError(f"distil: {len(e_train)} embedding rows for {len(arrays.x_train)} training windows")
    probabilities = head.predict(np.asarray(e_train, np.float32), batch_size=512, verbose=0)
    soft = soft_targets.soften(probabilities, recipe.teacher.temperature)
    student, _ = fit(recipe, Arrays(arrays.x_train, arrays.y_train, arrays.x_val, arrays.y_val, soft_train=soft),
                     run_dir, verbose=verbose)
    return student


def scratch(recipe: Recipe, arrays: Arrays, run_dir, *, verbose: int = 0):
    """The same student without the teacher: the distillation's control."""
    from quantize.train.classifier import fit

    model, _ = fit(recipe.model_copy(update={"teacher": None}), arrays, run_dir, verbose=verbose)
    return model

"""Train a zoo model on feature arrays: the float model every export starts from.

``fit(recipe, arrays, run_dir)`` trains and returns the Keras model (best
validation weights restored) and its history; ``train(recipe, run_dir)`` is
the stage form used by the pipeline and the CLI (run folder in, run folder
out). The training objective is plain cross-entropy on one-hot targets, so a
teacher's soft targets can replace them later without changing the loop.
"""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.train import objectives as soft_targets
from quantize.train import zoo
from quantize.train.fit import Arrays, Batches, FitPlan
from quantize.train.fit import fit as one_fit
from quantize.recipe import Recipe
from sdk.errors import ConfigError

def _batches(x, targets, weights, *, batch_size, seed, augment_config, spec_augment):
    """Shuffled batches of (features, target rows, sample weights); SpecAugment masks drawn per batch."""
    from quantize.data.augment import spec_augment as mask_batch

    epoch = [0]

    def generate():
        rng = np.random.default_rng([seed, epoch[0]])
        epoch[0] += 1
        order = rng.permutation(len(x))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            xb = x[index]
            if spec_augment:
                xb = mask_batch(xb, rng, augment_config)
            yield xb, targets[index], weights[index]

    spec = (
        tf.TensorSpec((None, *x.shape[1:]), tf.float32),
        tf.TensorSpec((None, targets.shape[1]), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2)


def _sample_weights(y, num_classes, mode):
    """A weight per row: balanced by class, or 1; unlabelled rows (``y < 0``) weigh 1."""
    y = np.asarray(y)
    if mode == "none":
        return np.ones(len(y), np.float32)
    labelled = y[y >= 0]
    counts = np.bincount(labelled, minlength=num_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(labelled) / (num_classes * np.maximum(counts, 1)), 0.0)
    return np.where(y >= 0, per_class[np.maximum(y, 0)], 1.0).astype(np.float32)


def _objective(recipe: Recipe, arrays: Arrays, num_classes: int):
    """Loss, accuracy metric and target rows: cross-entropy, or distillation when the
    arrays carry a teacher's softened probabilities (``quantize.train.objectives``)."""
    smoothing = recipe.train.label_smoothing
    if arrays.soft_train is None:
        return (keras.losses.CategoricalCrossentropy(), "accuracy",
                soft_targets.targets(arrays.y_train, None, num_classes, label_smoothing=smoothing),
                soft_targets.targets(arrays.y_val, None, num_classes))
    if recipe.teacher is None:
        raise ConfigError(f"{recipe.source}: the arrays carry teacher targets but the recipe has no teacher: section")
    if arrays.soft_train.shape != (len(arrays.y_train), num_classes):
        raise ConfigError(f"teacher targets have shape {arrays.soft_train.shape}; expected "
                          f"({len(arrays.y_train)}, {num_classes})")
    loss = soft_targets.DistillationLoss(num_classes, temperature=recipe.teacher.temperature, alpha=recipe.teacher.alpha)
    val_hard = soft_targets.targets(arrays.y_val, None, num_classes)
    return (loss, soft_targets.labelled_accuracy(num_classes),
            soft_targets.targets(arrays.y_train, arrays.soft_train, num_classes, label_smoothing=smoothing),
            np.concatenate([val_hard, val_hard], axis=1))


def plan(recipe: Recipe) -> FitPlan:
    """The recipe's ``train:`` section as a plan; its seed is the recipe's unless the section sets one."""
    seed = recipe.seed if recipe.train.seed is None else recipe.train.seed
    return recipe.train.plan().model_copy(update={"seed": seed})


def fit(recipe: Recipe, arrays: Arrays, run_dir, *, verbose: int = 2, initial_weights=None):
    """Train ``recipe.model`` on ``arrays`` through the one ``fit``; return ``(model, history dict)``.

    Writes ``checkpoints/best_weights.h5`` (best validation accuracy) and
    ``history.csv`` into ``run_dir``. The returned model always has float32
    weights and the best validation weights (``history["best_epoch"]``, counted
    from 1), ready for conversion.
    """
    cfg = recipe.train
    num_classes = len(recipe.labels)
    if len(arrays.x_train) == 0 or arrays.x_val is None or len(arrays.x_val) == 0:
        raise ConfigError(
            f"{recipe.source}: train on {len(arrays.x_train)} and validate on "
            f"{0 if arrays.x_val is None else len(arrays.x_val)} windows: "
            "both splits need examples (check data.split and the sources' roles)"
        )
    input_shape = arrays.x_train.shape[1:]
    loss, accuracy, train_targets, val_targets = _objective(recipe, arrays, num_classes)

    def data():  # called by fit once the distribution strategy exists
        train_batches = _batches(
            arrays.x_train,
            train_targets,
            _sample_weights(arrays.y_train, num_classes, cfg.class_weights),
            batch_size=cfg.batch_size,
            seed=recipe.seed,
            augment_config=recipe.augment_config(),
            spec_augment=cfg.spec_augment,
        )
        return Batches(train_batches, math.ceil(len(arrays.x_train) / cfg.batch_size),
                       tf.data.Dataset.from_tensor_slices((arrays.x_val, val_targets)).batch(256))

    def build():
        model = zoo.build(recipe.model.name, input_shape, num_classes, **recipe.model.params)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        return model

    model, history = one_fit(build, data, plan(recipe), loss=loss, metrics=[accuracy], run_dir=run_dir,
                             label=f"epochs ({recipe.model.name})", verbose=verbose)
    # The kept weights, set into a plain float32 twin (outside any distribution strategy and
    # mixed-precision policy) that converts cleanly to TFLite. Weights go by layer order, so
    # the twin's different auto-generated names do not matter.
    twin = build()
    twin.set_weights(model.get_weights())
    return twin, history


def train(recipe: Recipe, run_dir, *, verbose: int = 2) -> pathlib.Path:
    """Re-train on a run folder's kept windows: ``features.npz`` -> ``model.keras`` and ``history.json``.

    ``quantize.pipeline.run`` trains in memory; it keeps ``features.npz`` with
    ``keep_features=True`` (or a ``compress:`` section), so a recipe change can
    be tried on the same windows without decoding audio again.
    """
    run_dir = pathlib.Path(run_dir)
    features = run_dir / "features.npz"
    if not features.is_file():
        raise ConfigError(f"train: {features} does not exist (run quantize.pipeline.run with keep_features=True)")
    model, history = fit(recipe, Arrays.load(features), run_dir, verbose=verbose)
    model.save(run_dir / "model.keras")
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    return run_dir

"""Domain adaptation: train on labelled source audio (e.g. TTS), adapt to unlabelled target audio.

Three tools, usable alone or together:

- **DANN** and **CORAL**: objectives of
  :class:`quantize.train.objectives.domain.DomainAdapter` (a ``keras.Model``
  with its own ``train_step``), trained by :func:`train_adapted` through the
  one ``fit``; the layers and losses are re-exported here.
- **AdaBN** (Li et al. 2016): after training, every batch-norm layer's moving
  mean and variance are replaced by the statistics of its input on target
  audio, layer by layer from the input up.
"""
from __future__ import annotations

import math

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.train.fit import Batches, FitPlan, fit
from quantize.train.objectives.domain import (  # noqa: F401  (re-exported)
    METHODS, DomainAdapter, GradientReversal, coral_loss, dann_lambda, gradient_reversal,
)
from sdk.errors import ConfigError


def adabn(model: keras.Model, x_target: np.ndarray) -> list[str]:
    """Set every BatchNormalization layer's moving statistics to those of ``x_target``.

    One forward pass over all of ``x_target`` in training mode with momentum 0:
    each layer normalises with, and stores, the mean and (population) variance
    of its own input over every axis but the channel one, where that input
    already comes from the adapted layers below it. Dropout does not matter
    as long as it comes after the last batch norm (as in our trunks). Frozen
    layers are adapted too; their ``trainable`` flag and momentum are restored.
    Returns the names of the updated layers.
    """
    x_target = np.asarray(x_target, np.float32)
    if len(x_target) < 2:
        raise ConfigError(f"adabn: need at least 2 target windows, got {len(x_target)}")
    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [(layer.momentum, layer.trainable) for layer in layers]
    try:
        for layer in layers:
            layer.momentum, layer.trainable = 0.0, True
        model(tf.constant(x_target), training=True)
    finally:
        for layer, (momentum, trainable) in zip(layers, saved):
            layer.momentum, layer.trainable = momentum, trainable
    return [layer.name for layer in layers]


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _source_and_target_batches(x_source, y_source, x_target, *, batch_size: int, seed: int):
    """``((source, target), labels)`` batches: the source in a fresh order each epoch, as many target
    windows drawn at random (none for ``source_only``)."""
    rng = np.random.default_rng(seed)

    def generate():
        order = rng.permutation(len(x_source))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            xt = x_target[rng.integers(0, len(x_target), len(idx))] if len(x_target) else x_source[idx][:0]
            yield (x_source[idx], xt), y_source[idx]

    window = tf.TensorSpec((None, *x_source.shape[1:]), tf.float32)
    spec = ((window, window), tf.TensorSpec((None,), tf.int64))
    steps = -(-len(x_source) // batch_size)  # known, so Keras runs no extra step to find the end
    return tf.data.Dataset.from_generator(generate, output_signature=spec).apply(
        tf.data.experimental.assert_cardinality(steps))


def train_adapted(trunk: keras.Model, x_source, y_source, x_target, num_classes: int, *, method: str = "dann",
                  epochs: int = 20, batch_size: int = 32, lr: float = 1e-3, lambda_max: float = 1.0,
                  coral_weight: float = 1.0, domain_units: int = 32, dropout: float = 0.2, seed: int = 0,
                  plan: FitPlan | None = None):
    """Train a classifier on labelled source windows, adapting to unlabelled target windows.

    ``method``: ``source_only`` (baseline; the trunk never sees target audio),
    ``dann`` or ``coral``. For ``dann`` and ``coral`` each step runs the trunk on
    a source batch and an equal target batch together. ``plan`` (default: Adam
    at constant ``lr`` for ``epochs``, last weights kept) replaces ``epochs``,
    ``batch_size``, ``lr`` and ``seed``. Returns ``(classifier, log)``; the
    classifier is ``trunk -> dropout -> softmax``; ``log["history"]`` is the
    one ``fit``'s history and ``log["epochs"]`` its per-epoch losses and lambda.
    """
    if method not in METHODS:
        raise ConfigError(f"train_adapted: method={method!r} must be one of {METHODS}")
    x_source, x_target = np.asarray(x_source, np.float32), np.asarray(x_target, np.float32)
    y_source = np.asarray(y_source, np.int64)
    if method != "source_only" and len(x_target) == 0:
        raise ConfigError(f"train_adapted: method={method!r} needs target windows")
    plan = plan or FitPlan(epochs=epochs, batch_size=batch_size, lr=lr, schedule="constant", best_weights="last",
                           seed=seed)
    steps = math.ceil(len(x_source) / plan.batch_size)
    data = Batches(_source_and_target_batches(x_source, y_source, x_target, batch_size=plan.batch_size,
                                              seed=0 if plan.seed is None else plan.seed), steps)

    def build():
        return DomainAdapter(trunk, num_classes=num_classes, method=method, total_steps=steps * plan.epochs,
                             lambda_max=lambda_max, coral_weight=coral_weight, domain_units=domain_units,
                             dropout=dropout)

    adapter, history = fit(build, data, plan, loss=None, metrics=None, label=f"epochs ({method})")
    epochs_log = [{"task_loss": t, "adapt_loss": a, "lambda": g}
                  for t, a, g in zip(history["task_loss"], history["adapt_loss"], history["lambda"])]
    return adapter.classifier, {"method": method, "epochs": epochs_log, "history": history}

"""Domain adaptation: train on labelled source audio (e.g. TTS), adapt to unlabelled target audio.

Three tools, usable alone or together:

- **DANN** (Ganin & Lempitsky 2015): a domain classifier reads the trunk's
  embedding through a :class:`GradientReversal` layer, so the trunk learns
  features the domain classifier cannot tell apart while the label head
  learns the task. ``lambda`` ramps ``0 -> lambda_max`` with the paper's
  ``2 / (1 + exp(-10 p)) - 1`` schedule over training progress ``p``.
- **CORAL** (Sun & Saenko 2016): a loss on the distance between the source
  and target embedding covariances, ``||C_s - C_t||_F^2 / (4 d^2)``.
- **AdaBN** (Li et al. 2016): after training, every batch-norm layer's moving
  mean and variance are replaced by the statistics of its input on target
  audio, layer by layer from the input up.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from sdk.errors import ConfigError

METHODS = ("source_only", "dann", "coral")


def gradient_reversal(x, lambda_):
    """Identity forward; backward multiplies the incoming gradient by ``-lambda_``."""
    lambda_ = tf.convert_to_tensor(lambda_, x.dtype)

    @tf.custom_gradient
    def _reverse(inputs):
        def grad(upstream):
            return -lambda_ * upstream

        return tf.identity(inputs), grad

    return _reverse(x)


class GradientReversal(keras.layers.Layer):
    """Keras layer around :func:`gradient_reversal`; ``lambda_`` is a variable so a schedule can set it."""

    def __init__(self, lambda_: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.lambda_ = tf.Variable(float(lambda_), trainable=False, dtype=tf.float32, name="lambda")

    def call(self, inputs):
        return gradient_reversal(inputs, self.lambda_)

    def get_config(self):
        return {**super().get_config(), "lambda_": float(self.lambda_.numpy())}


def dann_lambda(progress: float, lambda_max: float = 1.0) -> float:
    """Ganin et al.'s ramp: 0 at the start of training, ``lambda_max`` at the end."""
    return float(lambda_max * (2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0))


def coral_loss(source, target):
    """CORAL distance between two embedding batches ``(n, d)``: ``||C_s - C_t||_F^2 / (4 d^2)``.

    ``C`` is the unbiased covariance (``n - 1`` in the denominator).
    """
    source = tf.convert_to_tensor(source, tf.float32)
    target = tf.convert_to_tensor(target, tf.float32)
    d = tf.cast(tf.shape(source)[1], tf.float32)

    def cov(h):
        n = tf.cast(tf.shape(h)[0], tf.float32)
        centred = h - tf.reduce_mean(h, axis=0, keepdims=True)
        return tf.matmul(centred, centred, transpose_a=True) / (n - 1.0)

    return tf.reduce_sum(tf.square(cov(source) - cov(target))) / (4.0 * d * d)


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


def train_adapted(trunk: keras.Model, x_source, y_source, x_target, num_classes: int, *, method: str = "dann",
                  epochs: int = 20, batch_size: int = 32, lr: float = 1e-3, lambda_max: float = 1.0,
                  coral_weight: float = 1.0, domain_units: int = 32, dropout: float = 0.2, seed: int = 0):
    """Train a classifier on labelled source windows, adapting to unlabelled target windows.

    ``method``: ``source_only`` (baseline; the trunk never sees target audio),
    ``dann`` or ``coral``. For ``dann`` and ``coral`` each step runs the trunk on
    a source batch and an equal target batch together. Returns
    ``(classifier, log)``; the classifier is ``trunk -> dropout -> softmax``.
    """
    if method not in METHODS:
        raise ConfigError(f"train_adapted: method={method!r} must be one of {METHODS}")
    x_source, x_target = np.asarray(x_source, np.float32), np.asarray(x_target, np.float32)
    y_source = np.asarray(y_source, np.int64)
    if method != "source_only" and len(x_target) == 0:
        raise ConfigError(f"train_adapted: method={method!r} needs target windows")
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input(trunk.input_shape[1:], name="features")
    drop = keras.layers.Dropout(dropout)
    head = keras.layers.Dense(num_classes, activation="softmax", name="scores")
    model = keras.Model(inputs, head(drop(trunk(inputs))), name="adapted")
    grl = GradientReversal(0.0, name="gradient_reversal")
    domain = keras.Sequential([grl, keras.layers.Dense(domain_units, activation="relu"), keras.layers.Dense(1)], name="domain")
    domain.build((None, trunk.output_shape[-1]))
    optimizer = keras.optimizers.Adam(lr)
    variables = model.trainable_variables + (domain.trainable_variables if method == "dann" else [])
    ce = keras.losses.SparseCategoricalCrossentropy()
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function
    def step(xs, ys, xt):
        n = tf.shape(xs)[0]
        with tf.GradientTape() as tape:
            h = trunk(tf.concat([xs, xt], 0) if method != "source_only" else xs, training=True)
            hs = h[:n]
            task = ce(ys, head(drop(hs, training=True)))
            extra = tf.constant(0.0)
            if method == "dann":
                labels = tf.concat([tf.zeros((n, 1)), tf.ones((tf.shape(xt)[0], 1))], 0)
                extra = bce(labels, domain(h, training=True))
            elif method == "coral":
                extra = coral_weight * coral_loss(hs, h[n:])
            loss = task + extra
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return task, extra

    steps = int(np.ceil(len(x_source) / batch_size))
    log = {"method": method, "epochs": []}
    for epoch in range(epochs):
        order = rng.permutation(len(x_source))
        totals = np.zeros(2)
        for s in range(steps):
            idx = order[s * batch_size : (s + 1) * batch_size]
            grl.lambda_.assign(dann_lambda((epoch * steps + s) / (epochs * steps), lambda_max))
            xt = x_target[rng.integers(0, len(x_target), len(idx))] if len(x_target) else x_source[idx][:0]
            task, extra = step(x_source[idx], y_source[idx], xt)
            totals += [float(task), float(extra)]
        log["epochs"].append({"task_loss": totals[0] / steps, "adapt_loss": totals[1] / steps,
                              "lambda": float(grl.lambda_.numpy())})
    return model, log

"""Multi-task loss weighting as a model: ``MultiTask`` trains every head of a shared-trunk
model together in its ``train_step``.

Weighting is ``fixed`` (``sum_i w_i L_i``) or ``uncertainty`` (Kendall, Gal &
Cipolla 2018, arXiv:1705.07115): each task ``i`` has a trainable log-variance
``s_i = log sigma_i^2`` (initially 0) and the total is

    sum_i exp(-s_i) * L_i + s_i / 2

(the classification form ``L / sigma^2 + log sigma``), so a task whose loss
stays high is down-weighted, with ``s_i / 2`` stopping all ``sigma`` from
growing without bound. A label of ``-1`` marks "no label for this head" and
drops that example from the head's loss. Batches are ``(x, (y_0, y_1, ...))``;
the one ``fit`` (``quantize.train.fit``) trains it with ``loss=None``.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from sdk.errors import ConfigError

WEIGHTINGS = ("fixed", "uncertainty")


class UncertaintyWeighting(keras.layers.Layer):
    """Kendall et al.'s weighting; ``log_vars`` (one per task, trainable) start at 0."""

    def __init__(self, num_tasks: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.log_vars = self.add_weight(name="log_vars", shape=(self.num_tasks,), initializer="zeros", trainable=True)

    def call(self, losses):
        losses = tf.stack(list(losses))
        return tf.reduce_sum(tf.exp(-self.log_vars) * losses + 0.5 * self.log_vars)

    def weights_now(self) -> list[float]:
        """Effective weights ``exp(-s_i)``."""
        return [float(v) for v in np.exp(-self.log_vars.numpy())]


def masked_ce(y, p):
    """Mean sparse cross-entropy over examples with ``y >= 0`` (0 when none)."""
    y = tf.cast(y, tf.int64)
    mask = tf.cast(y >= 0, tf.float32)
    ce = keras.losses.sparse_categorical_crossentropy(tf.maximum(y, 0), p)
    return tf.reduce_sum(ce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class MultiTask(keras.Model):
    """Trains ``model``'s outputs together under ``weighting``; ``model`` keeps its own outputs for export.

    Metrics: ``total`` and ``head_<i>`` (epoch means of the losses) and, for
    ``uncertainty``, ``log_var_<i>`` (after the epoch's last step).
    """

    def __init__(self, model: keras.Model, *, weighting: str = "uncertainty", loss_weights=None):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"MultiTask: weighting={weighting!r} must be one of {WEIGHTINGS}")
        self.network, self.num_tasks = model, len(model.outputs)
        weights = list(loss_weights) if loss_weights is not None else [1.0] * self.num_tasks
        if len(weights) != self.num_tasks:
            raise ConfigError(f"MultiTask: loss_weights={weights} has {len(weights)} values for {self.num_tasks} heads")
        self.fixed = tf.constant(weights, tf.float32)
        self.weighter = UncertaintyWeighting(self.num_tasks, name="uncertainty") if weighting == "uncertainty" else None
        self.total_tracker = keras.metrics.Mean(name="total")
        self.head_trackers = [keras.metrics.Mean(name=f"head_{i}") for i in range(self.num_tasks)]

    def call(self, x, training=False):
        return self.network(x, training=training)

    @property
    def metrics(self):
        return [self.total_tracker, *self.head_trackers]

    def train_step(self, data):
        x, ys = data
        variables = self.network.trainable_variables + (self.weighter.trainable_variables if self.weighter else [])
        with tf.GradientTape() as tape:
            preds = self.network(x, training=True)
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            losses = [masked_ce(y, p) for y, p in zip(ys, preds)]
            total = self.weighter(losses) if self.weighter else tf.reduce_sum(self.fixed * tf.stack(losses))
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        self.total_tracker.update_state(total)
        for tracker, loss in zip(self.head_trackers, losses):
            tracker.update_state(loss)
        logs = {m.name: m.result() for m in self.metrics}
        if self.weighter:
            logs.update({f"log_var_{i}": self.weighter.log_vars[i] for i in range(self.num_tasks)})
        return logs

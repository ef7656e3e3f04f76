"""Domain adaptation as a model: ``DomainAdapter`` trains a classifier on labelled source
batches while its trunk adapts to unlabelled target batches, all in its ``train_step``.

- **DANN** (Ganin & Lempitsky 2015): a domain classifier reads the trunk's
  embedding through a :class:`GradientReversal` layer, so the trunk learns
  features the domain classifier cannot tell apart while the label head
  learns the task. ``lambda`` ramps ``0 -> lambda_max`` with the paper's
  ``2 / (1 + exp(-10 p)) - 1`` schedule over training progress ``p`` (the
  optimizer's step over the plan's total steps).
- **CORAL** (Sun & Saenko 2016): a loss on the distance between the source
  and target embedding covariances, ``||C_s - C_t||_F^2 / (4 d^2)``.

Batches are ``((source windows, target windows), source labels)``; the one
``fit`` (``quantize.train.fit``) trains it with ``loss=None``.
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


class DomainAdapter(keras.Model):
    """``trunk -> dropout -> head`` trained on source labels, adapted to target windows by ``method``.

    ``total_steps``: optimizer steps of the whole run (DANN's lambda ramp).
    Metrics: ``task_loss`` and ``adapt_loss`` (epoch means) and ``lambda`` (last step).
    """

    def __init__(self, trunk, *, num_classes: int, method: str = "dann", total_steps: int = 1,
                 lambda_max: float = 1.0, coral_weight: float = 1.0, domain_units: int = 32, dropout: float = 0.2):
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"DomainAdapter: method={method!r} must be one of {METHODS}")
        self.trunk, self.method, self.total_steps = trunk, method, max(1, int(total_steps))
        self.lambda_max, self.coral_weight = float(lambda_max), float(coral_weight)
        inputs = keras.Input(trunk.input_shape[1:], name="features")
        self.drop = keras.layers.Dropout(dropout)
        self.head = keras.layers.Dense(num_classes, activation="softmax", name="scores")
        self.classifier = keras.Model(inputs, self.head(self.drop(trunk(inputs))), name="adapted")
        self.grl = GradientReversal(0.0, name="gradient_reversal")
        self.domain = keras.Sequential([self.grl, keras.layers.Dense(domain_units, activation="relu"),
                                        keras.layers.Dense(1)], name="domain")
        self.domain.build((None, trunk.output_shape[-1]))
        self.ce = keras.losses.SparseCategoricalCrossentropy()
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.task_tracker = keras.metrics.Mean(name="task_loss")
        self.adapt_tracker = keras.metrics.Mean(name="adapt_loss")

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    @property
    def metrics(self):
        return [self.task_tracker, self.adapt_tracker]

    def train_step(self, data):
        (xs, xt), ys = data
        n = tf.shape(xs)[0]
        done = tf.cast(self.optimizer.iterations, tf.float32) / float(self.total_steps)
        lambda_ = self.lambda_max * (2.0 / (1.0 + tf.exp(-10.0 * done)) - 1.0)
        self.grl.lambda_.assign(lambda_)
        variables = self.classifier.trainable_variables + (self.domain.trainable_variables if self.method == "dann" else [])
        with tf.GradientTape() as tape:
            h = self.trunk(tf.concat([xs, xt], 0) if self.method != "source_only" else xs, training=True)
            hs = h[:n]
            task = self.ce(ys, self.head(self.drop(hs, training=True)))
            extra = tf.constant(0.0)
            if self.method == "dann":
                labels = tf.concat([tf.zeros((n, 1)), tf.ones((tf.shape(xt)[0], 1))], 0)
                extra = self.bce(labels, self.domain(h, training=True))
            elif self.method == "coral":
                extra = self.coral_weight * coral_loss(hs, h[n:])
            loss = task + extra
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.task_tracker.update_state(task)
        self.adapt_tracker.update_state(extra)
        return {"task_loss": self.task_tracker.result(), "adapt_loss": self.adapt_tracker.result(),
                "lambda": lambda_}

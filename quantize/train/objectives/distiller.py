"""Distillation as a model: ``Distiller`` trains a student against frozen teachers in its ``train_step``.

Loss (Hinton et al. 2015, arXiv:1503.02531)::

    alpha * T**2 * KL(p_teacher(T) || p_student(T)) + (1 - alpha) * CE(y, p_student(1))
    + feature_weight * MSE(project(pool(student_feature)), pool(teacher_feature))

``p(T) = softmax(logits / T)``; the ``T**2`` keeps the soft term's gradient
scale independent of ``T``. A teacher may be an ensemble: its soft target is
the mean of the members' softened probabilities. The one ``fit``
(``quantize.train.fit``) trains it like any model (``loss=None``).

Logits: zoo models end in ``Dense(..., activation="softmax")``. :func:`logits_fn`
computes that layer's pre-softmax output with the layer's own variables (so a
student trains its real weights and keeps its softmax output for export). For
any other model it falls back to log-probabilities ``log(p)``, which equal the
logits up to a per-example constant, and softmax ignores that constant; only
probabilities that underflow to 0 are clipped (at 1e-7).

Feature distillation (FitNets-style hint, Romero et al. 2015) matches one
intermediate layer: both maps are averaged over time and frequency (so any
spatial sizes fit) and a learned dense projection maps the student's channels
to the teacher's.
"""
from __future__ import annotations

from typing import Sequence

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from sdk.errors import ConfigError

_EPS = 1e-7


def _softmax_head(model):
    """The model's last layer when it is a softmax Dense, else None."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and keras.activations.serialize(last.activation) == "softmax":
        return last
    return None


def logits_fn(model):
    """A callable ``x -> logits`` that shares ``model``'s variables (see module doc)."""
    head = _softmax_head(model)
    if head is None:
        def log_probabilities(x, training=False):
            return tf.math.log(tf.clip_by_value(model(x, training=training), _EPS, 1.0))

        return log_probabilities
    body = keras.Model(model.inputs, head.input)

    def logits(x, training=False):
        z = tf.matmul(body(x, training=training), head.kernel)
        return z + head.bias if head.use_bias else z

    return logits


def soft_targets(teacher_logits: Sequence, temperature: float):
    """Mean over ensemble members of ``softmax(logits / T)``."""
    return tf.add_n([tf.nn.softmax(z / temperature) for z in teacher_logits]) / len(teacher_logits)


def distillation_loss(student_logits, teacher_probabilities, y_true, *, temperature: float, alpha: float):
    """Per-batch loss: ``alpha * T^2 * KL(teacher || student at T) + (1 - alpha) * CE(y, student)``.

    ``teacher_probabilities`` are already softened at ``temperature``
    (:func:`soft_targets`); ``y_true`` are integer labels. Returns a scalar.
    """
    t = tf.cast(temperature, tf.float32)
    log_student_t = tf.nn.log_softmax(student_logits / t)
    p = tf.clip_by_value(teacher_probabilities, _EPS, 1.0)
    kl = tf.reduce_sum(teacher_probabilities * (tf.math.log(p) - log_student_t), axis=-1)
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y_true, tf.int32), logits=student_logits)
    return tf.reduce_mean(alpha * t * t * kl + (1.0 - alpha) * hard)


def _pooled_output(model, layer_name: str, role: str):
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ConfigError(f"distill: {role} has no layer {layer_name!r}; layers: {names}") from None
    out = layer.output
    if len(out.shape) == 4:
        out = keras.layers.GlobalAveragePooling2D()(out)
    elif len(out.shape) == 3:
        out = keras.layers.GlobalAveragePooling1D()(out)
    return keras.Model(model.inputs, out), int(out.shape[-1])


class Distiller(keras.Model):
    """Trains ``student`` against frozen ``teachers``; ``student`` keeps its own softmax output."""

    def __init__(self, student, teachers, *, temperature: float = 4.0, alpha: float = 0.7,
                 feature_layers: tuple[str, str] | None = None, feature_weight: float = 1.0):
        super().__init__()
        self.student, self.teachers = student, list(teachers)
        self.temperature, self.alpha, self.feature_weight = float(temperature), float(alpha), float(feature_weight)
        self._student_logits = logits_fn(student)
        self._teacher_logits = [logits_fn(t) for t in self.teachers]
        for t in self.teachers:
            t.trainable = False
        self.feature = None
        if feature_layers:
            teacher_layer, student_layer = feature_layers
            self._teacher_feature, teacher_channels = _pooled_output(self.teachers[0], teacher_layer, "teacher 0")
            self._student_feature, _ = _pooled_output(student, student_layer, "student")
            self.feature = keras.layers.Dense(teacher_channels, name="feature_projection")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.acc = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def call(self, x, training=False):
        return self.student(x, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.acc]

    def _loss(self, x, y, training):
        targets = soft_targets([f(x, training=False) for f in self._teacher_logits], self.temperature)
        z = self._student_logits(x, training=training)
        loss = distillation_loss(z, targets, y, temperature=self.temperature, alpha=self.alpha)
        if self.feature is not None:
            hint = self._teacher_feature(x, training=False)
            guess = self.feature(self._student_feature(x, training=training))
            loss = loss + self.feature_weight * tf.reduce_mean(tf.square(guess - hint))
        return loss, z

    def train_step(self, batch):
        x, y = batch
        with tf.GradientTape() as tape:
            loss, z = self._loss(x, y, True)
        variables = self.student.trainable_variables + (self.feature.trainable_variables if self.feature else [])
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.acc.update_state(y, tf.nn.softmax(z))
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, batch):
        x, y = batch
        loss, z = self._loss(x, y, False)
        self.loss_tracker.update_state(loss)
        self.acc.update_state(y, tf.nn.softmax(z))
        return {m.name: m.result() for m in self.metrics}

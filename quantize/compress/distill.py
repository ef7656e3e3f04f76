"""Knowledge distillation: a small student learns a teacher's soft targets.

Loss (Hinton et al. 2015, arXiv:1503.02531)::

    alpha * T**2 * KL(p_teacher(T) || p_student(T)) + (1 - alpha) * CE(y, p_student(1))
    + feature_weight * MSE(project(pool(student_feature)), pool(teacher_feature))

``p(T) = softmax(logits / T)``; the ``T**2`` keeps the soft term's gradient
scale independent of ``T``. ``alpha`` weighs the soft term; ``1 - alpha`` the
hard labels. A teacher may be an ensemble: its soft target is the mean of the
members' softened probabilities.

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

from dataclasses import dataclass
from typing import Sequence

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.train.fit import KeepBest, cosine
from sdk.errors import ConfigError

_EPS = 1e-7


@dataclass(frozen=True)
class DistillConfig:
    """What :func:`distill` does; checked on construction."""

    temperature: float = 4.0
    alpha: float = 0.7  # weight of the soft (teacher) term; 1 - alpha for the hard labels
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 3e-3
    feature_layers: tuple[str, str] | None = None  # (teacher layer name, student layer name)
    feature_weight: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise ConfigError(f"distill: temperature={self.temperature!r} must be positive")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill: alpha={self.alpha!r} must be between 0 and 1")
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise ConfigError(
                f"distill: epochs={self.epochs}, batch_size={self.batch_size}, learning_rate={self.learning_rate} "
                "must be positive"
            )
        if self.feature_layers is not None and len(self.feature_layers) != 2:
            raise ConfigError(f"distill: feature_layers={self.feature_layers!r} must be (teacher_layer, student_layer)")
        if self.feature_weight < 0:
            raise ConfigError(f"distill: feature_weight={self.feature_weight!r} must be >= 0")


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


def check_pair(student, teachers: Sequence, *, student_labels=None, teacher_labels: Sequence | None = None) -> None:
    """``ConfigError`` unless every teacher takes the student's input and predicts its classes."""
    if not teachers:
        raise ConfigError("distill: needs at least one teacher model")
    n_classes = int(student.output_shape[-1])
    for i, teacher in enumerate(teachers):
        if tuple(teacher.input_shape[1:]) != tuple(student.input_shape[1:]):
            raise ConfigError(
                f"distill: teacher {i} takes input {tuple(teacher.input_shape[1:])}, the student "
                f"{tuple(student.input_shape[1:])}; both must use the same front end"
            )
        if int(teacher.output_shape[-1]) != n_classes:
            raise ConfigError(
                f"distill: teacher {i} has {int(teacher.output_shape[-1])} classes, the student {n_classes}"
            )
        if student_labels is not None and teacher_labels is not None:
            if list(teacher_labels[i]) != list(student_labels):
                raise ConfigError(
                    f"distill: teacher {i} labels {list(teacher_labels[i])} differ from the student's "
                    f"{list(student_labels)} (same labels in the same order are needed)"
                )


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

    def __init__(self, student, teachers, config: DistillConfig):
        super().__init__()
        self.student, self.teachers, self.config = student, list(teachers), config
        self._student_logits = logits_fn(student)
        self._teacher_logits = [logits_fn(t) for t in self.teachers]
        for t in self.teachers:
            t.trainable = False
        self.feature = None
        if config.feature_layers:
            teacher_layer, student_layer = config.feature_layers
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
        cfg = self.config
        targets = soft_targets([f(x, training=False) for f in self._teacher_logits], cfg.temperature)
        z = self._student_logits(x, training=training)
        loss = distillation_loss(z, targets, y, temperature=cfg.temperature, alpha=cfg.alpha)
        if self.feature is not None:
            hint = self._teacher_feature(x, training=False)
            guess = self.feature(self._student_feature(x, training=training))
            loss = loss + cfg.feature_weight * tf.reduce_mean(tf.square(guess - hint))
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


def distill(student, teachers, x, y, *, validation=None, config: DistillConfig = DistillConfig(), verbose: int = 0):
    """Train ``student`` (in place) on ``(x, y)`` with soft targets from ``teachers``.

    ``teachers``: one Keras model or a list (ensemble). ``validation``:
    ``(x_val, y_val)``; the weights with the best validation accuracy are
    kept. Returns the trained student (a plain Keras model, softmax output)
    and the history dict.
    """
    teachers = list(teachers) if isinstance(teachers, (list, tuple)) else [teachers]
    check_pair(student, teachers)
    keras.utils.set_random_seed(config.seed)
    distiller = Distiller(student, teachers, config)
    steps = config.epochs * -(-len(x) // config.batch_size)
    distiller.compile(optimizer=keras.optimizers.Adam(cosine(config.learning_rate, steps)))
    callbacks = [] if validation is None else [KeepBest(target=student)]
    history = distiller.fit(
        np.asarray(x, np.float32), np.asarray(y), batch_size=config.batch_size, epochs=config.epochs,
        validation_data=None if validation is None else (np.asarray(validation[0], np.float32), np.asarray(validation[1])),
        callbacks=callbacks, verbose=verbose, shuffle=True,
    )
    return student, history.history

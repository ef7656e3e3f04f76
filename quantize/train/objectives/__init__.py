"""Training objectives the one ``fit`` (``quantize.train.fit``) trains with; none has a loop.

- here: knowledge distillation as a Keras loss on target rows (below);
- ``distiller``: ``Distiller``, a student against frozen Keras teachers, with feature hints;
- ``domain``: ``DomainAdapter``, DANN / CORAL adaptation to unlabelled target audio;
- ``multitask``: ``MultiTask``, several heads under fixed or uncertainty weights.

The last three are ``keras.Model`` subclasses with their own ``train_step``.

Knowledge distillation as a loss on targets: the one ``fit`` trains a student.

A distilled student's target row is ``[hard | soft]``: the one-hot label
(label-smoothed; all zeros for unlabelled audio, which the teacher alone
labels) and the teacher's probabilities softened at temperature ``T``. The
loss per row (Hinton et al. 2015, arXiv:1503.02531)::

    alpha * T**2 * KL(soft || softmax(z / T)) + (1 - alpha) * CE(hard, softmax(z))

where ``z`` are the student's logits. Zoo models end in softmax, and
``log(p)`` equals the logits up to a per-row constant that softmax ignores,
so the loss works from the model's own output. ``T**2`` keeps the soft
term's gradient independent of ``T``.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

_EPS = 1e-7


def soften(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)`` row by row, in numpy (teacher targets are precomputed)."""
    z = np.log(np.clip(np.asarray(probabilities, np.float64), _EPS, 1.0)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def targets(y: np.ndarray, soft: np.ndarray | None, num_classes: int, *, label_smoothing: float = 0.0) -> np.ndarray:
    """Target rows: one-hot (smoothed) labels, then ``soft`` when given; ``y < 0`` is unlabelled."""
    y = np.asarray(y)
    hard = np.zeros((len(y), num_classes), np.float32)
    labelled = y >= 0
    hard[labelled] = label_smoothing / num_classes
    hard[np.flatnonzero(labelled), y[labelled]] += 1.0 - label_smoothing
    return hard if soft is None else np.concatenate([hard, np.asarray(soft, np.float32)], axis=1)


class DistillationLoss(keras.losses.Loss):
    """The loss above on ``[hard | soft]`` target rows and softmax outputs."""

    def __init__(self, num_classes: int, *, temperature: float, alpha: float, name="distillation"):
        super().__init__(name=name)
        self.num_classes, self.temperature, self.alpha = int(num_classes), float(temperature), float(alpha)

    def call(self, y_true, y_pred):
        hard, soft = y_true[:, : self.num_classes], y_true[:, self.num_classes :]
        log_p = tf.math.log(tf.clip_by_value(tf.cast(y_pred, tf.float32), _EPS, 1.0))
        t = self.temperature
        log_student_t = tf.nn.log_softmax(log_p / t)
        kl = tf.reduce_sum(soft * (tf.math.log(tf.clip_by_value(soft, _EPS, 1.0)) - log_student_t), axis=-1)
        ce = -tf.reduce_sum(hard * log_p, axis=-1)
        return self.alpha * t * t * kl + (1.0 - self.alpha) * ce

    def get_config(self):
        return {"num_classes": self.num_classes, "temperature": self.temperature, "alpha": self.alpha}


def labelled_accuracy(num_classes: int):
    """Accuracy on the hard part of the target rows (unlabelled rows count as misses in training only)."""

    def accuracy(y_true, y_pred):
        hard = y_true[:, :num_classes]
        hit = tf.equal(tf.argmax(hard, axis=-1), tf.argmax(y_pred, axis=-1))
        return tf.cast(hit, tf.float32) * tf.cast(tf.reduce_max(hard, axis=-1) > 0, tf.float32)

    return accuracy

"""Knowledge distillation: a small student learns a teacher's soft targets.

The objective is :class:`quantize.train.objectives.distiller.Distiller` (a
``keras.Model`` whose ``train_step`` computes the loss; see its module for the
formula); :func:`distill` checks the pair and trains it through the one
``fit`` by ``config.fit``. The helpers are re-exported here for callers that
import them from this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

from quantize.train.fit import Arrays, FitPlan, fit
from quantize.train.objectives.distiller import (  # noqa: F401  (re-exported)
    Distiller, distillation_loss, logits_fn, soft_targets,
)
from sdk.errors import ConfigError


@dataclass(frozen=True)
class DistillConfig:
    """What :func:`distill` does; checked on construction. ``fit``: how the student trains."""

    temperature: float = 4.0
    alpha: float = 0.7  # weight of the soft (teacher) term; 1 - alpha for the hard labels
    feature_layers: tuple[str, str] | None = None  # (teacher layer name, student layer name)
    feature_weight: float = 1.0
    fit: FitPlan = field(default_factory=lambda: FitPlan(epochs=20, lr=3e-3))

    def __post_init__(self):
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise ConfigError(f"distill: temperature={self.temperature!r} must be positive")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill: alpha={self.alpha!r} must be between 0 and 1")
        if self.feature_layers is not None and len(self.feature_layers) != 2:
            raise ConfigError(f"distill: feature_layers={self.feature_layers!r} must be (teacher_layer, student_layer)")
        if self.feature_weight < 0:
            raise ConfigError(f"distill: feature_weight={self.feature_weight!r} must be >= 0")


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


def distill(student, teachers, x, y, *, validation=None, config: DistillConfig = DistillConfig(), verbose: int = 0):
    """Train ``student`` (in place) on ``(x, y)`` with soft targets from ``teachers``.

    ``teachers``: one Keras model or a list (ensemble). ``validation``:
    ``(x_val, y_val)``; the plan's best-weights policy picks the epoch kept.
    Returns the trained student (a plain Keras model, softmax output) and the
    history dict of the one ``fit``.
    """
    teachers = list(teachers) if isinstance(teachers, (list, tuple)) else [teachers]
    check_pair(student, teachers)
    distiller = Distiller(student, teachers, temperature=config.temperature, alpha=config.alpha,
                          feature_layers=config.feature_layers, feature_weight=config.feature_weight)
    data = Arrays(x, y, *(validation if validation is not None else (None, None)))
    _, history = fit(distiller, data, config.fit, loss=None, metrics=None, label="epochs (distill)", verbose=verbose)
    return student, history

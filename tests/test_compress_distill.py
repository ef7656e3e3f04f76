"""Knowledge distillation: the loss by hand, ensembles, logits, label checks, a short run."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

import tensorflow as tf  # noqa: E402

from quantize.train import zoo  # noqa: E402
from quantize.train.plan import FitPlan  # noqa: E402
from quantize.compress.distill import (  # noqa: E402
    DistillConfig, check_pair, distill, distillation_loss, logits_fn, soft_targets,
)
from sdk.errors import ConfigError  # noqa: E402


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_loss_equals_hand_computed_kl_and_cross_entropy():
    student = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], np.float32)
    teacher = np.array([[1.0, 1.5, -0.5], [0.0, -1.0, 2.0]], np.float32)
    y = np.array([0, 2])
    t, alpha = 3.0, 0.6
    p_t, p_s = _softmax(teacher / t), _softmax(student / t)
    kl = np.sum(p_t * np.log(p_t / p_s), axis=-1)
    ce = -np.log(_softmax(student)[np.arange(2), y])
    expected = np.mean(alpha * t * t * kl + (1 - alpha) * ce)
    got = distillation_loss(student, soft_targets([teacher], t), y, temperature=t, alpha=alpha)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # alpha=0 is plain cross-entropy; identical logits give zero KL
    assert float(distillation_loss(student, soft_targets([student], t), y, temperature=t, alpha=1.0)) == pytest.approx(0, abs=1e-6)


def test_ensemble_teacher_averages_softened_probabilities():
    a = np.array([[3.0, 0.0, 0.0]], np.float32)
    b = np.array([[0.0, 0.0, 3.0]], np.float32)
    got = soft_targets([a, b], 2.0).numpy()
    np.testing.assert_allclose(got, (_softmax(a / 2) + _softmax(b / 2)) / 2, rtol=1e-6)
    assert got[0, 0] == pytest.approx(got[0, 2])


def test_logits_of_a_zoo_model_give_its_softmax():
    model = zoo.build("cnn_small", (16, 10), 4, filters=(4,))
    x = np.random.default_rng(0).normal(size=(5, 16, 10)).astype(np.float32)
    z = logits_fn(model)(x).numpy()
    np.testing.assert_allclose(tf.nn.softmax(z).numpy(), model(x).numpy(), atol=1e-6)


def test_teacher_with_other_classes_or_labels_is_refused():
    student = zoo.build("cnn_small", (16, 10), 3, filters=(4,))
    other = zoo.build("cnn_small", (16, 10), 4, filters=(4,))
    with pytest.raises(ConfigError, match="teacher 0 has 4 classes"):
        check_pair(student, [other])
    same = zoo.build("cnn_small", (16, 10), 3, filters=(4,))
    with pytest.raises(ConfigError, match="labels"):
        check_pair(student, [same], student_labels=["a", "b", "c"], teacher_labels=[["a", "c", "b"]])
    with pytest.raises(ConfigError, match="temperature"):
        DistillConfig(temperature=0)


def test_distilled_student_learns_from_an_ensemble_with_feature_hint():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 192)
    x = rng.normal(size=(192, 16, 10)).astype(np.float32)
    for c in range(3):
        x[y == c, :, 3 * c:3 * c + 3] += 2.0
    teachers = [zoo.build("cnn_small", (16, 10), 3, filters=(8,)) for _ in range(2)]
    student = zoo.build("ds_cnn_s", (16, 10), 3, filters=8, blocks=1)
    before = [w.copy() for w in student.get_weights()]
    config = DistillConfig(temperature=2.0, alpha=0.5, fit=FitPlan(epochs=3, lr=1e-2),
                           feature_layers=(teachers[0].layers[2].name, student.layers[2].name))
    student, history = distill(student, teachers, x, y, validation=(x[:64], y[:64]), config=config)
    assert history["loss"][-1] < history["loss"][0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights()))
    assert student.output_shape[-1] == 3  # still the softmax model, ready to export
    with pytest.raises(ConfigError, match="no layer 'nope'"):
        distill(student, teachers, x, y, config=DistillConfig(fit=FitPlan(epochs=1), feature_layers=("nope", student.layers[2].name)))

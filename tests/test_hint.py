"""Hint pretraining (quantize.transfer.hint): the student's trunk learns to predict an embedding."""
import numpy as np
import pytest

from quantize import recipe as qrecipe
from quantize.transfer import hint
from quantize.train import zoo


def test_standardise_uses_the_reference_statistics():
    rng = np.random.default_rng(0)
    reference = rng.normal(3.0, 2.0, size=(500, 2, 3)).astype(np.float32)
    out = hint.standardise(reference, reference)
    assert out.shape == (500, 6)
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-3)
    other = hint.standardise(reference[:2] + 1.0, reference)  # shifted by one unit of the reference's spread / 2
    flat = reference.reshape(500, -1)
    np.testing.assert_allclose(other, (flat[:2] + 1.0 - flat.mean(0)) / (flat.std(0) + 1e-3), rtol=1e-5)


def _recipe(epochs):
    return qrecipe.load({
        "name": "h", "seed": 3,
        "data": {"keywords": ["a", "b"], "unknown": False, "silence": False,
                 "sources": [{"kind": "tts", "variants_per_word": 1}]},
        "model": {"name": "cnn_small", "params": {"filters": [8, 8, 8]}},
        "train": {"batch_size": 32, "lr": 0.01},
        "teacher": {"hint_epochs": epochs},
    })


def _task(n, rng):
    """Windows whose 'embedding' is a fixed function of how loud each half of the spectrum is."""
    x = rng.normal(0.0, 1.0, size=(n, 20, 8)).astype(np.float32)
    x[:, :, :4] += rng.normal(0.0, 3.0, size=(n, 1, 1))
    x[:, :, 4:] += rng.normal(0.0, 3.0, size=(n, 1, 1))
    low, high = x[:, :, :4].mean((1, 2)), x[:, :, 4:].mean((1, 2))
    e = np.stack([np.stack([low, high, low + high], -1), np.stack([low - high, 2 * low, -high], -1)], 1)
    return x, e.astype(np.float32)


def test_the_trunk_learns_the_embedding_and_the_classifier_stays_fresh():
    rng = np.random.default_rng(0)
    x, e = _task(512, rng)
    x_val, e_val = _task(128, rng)
    recipe = _recipe(epochs=8)
    weights, summary = hint.pretrain(recipe, x, e, x_val, e_val)

    assert summary["epochs"] == 8 and summary["windows"] == 512
    assert summary["val_unexplained"] < 0.5  # chance is 1.0: the trunk predicts held-out embeddings
    student = zoo.build("cnn_small", (20, 8), 2, filters=[8, 8, 8])
    student.set_weights(weights)  # exactly the zoo model's weights: the projection is not among them
    assert all("hint" not in w.name for w in student.weights)

    from quantize.train.fit import seed_everything

    seed_everything(3)
    fresh = zoo.build("cnn_small", (20, 8), 2, filters=[8, 8, 8])
    fresh_scores = fresh.get_layer("scores").get_weights()
    for got, want in zip(student.get_layer("scores").get_weights(), fresh_scores):
        np.testing.assert_array_equal(got, want)  # the classifier starts as a fresh one
    trunk_changed = [not np.array_equal(a, b) for a, b in zip(student.get_weights(), fresh.get_weights())]
    assert sum(trunk_changed) >= len(trunk_changed) // 2  # the trunk's did not


def test_hint_epochs_must_not_be_negative():
    from sdk.errors import ConfigError

    with pytest.raises(ConfigError, match="hint_epochs"):
        _recipe(epochs=-1)

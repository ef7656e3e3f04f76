"""Domain adaptation pieces: gradient reversal, CORAL, AdaBN, on hand-made numbers."""
import numpy as np
import pytest

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from quantize.transfer.adapt import GradientReversal, adabn, coral_loss, dann_lambda, gradient_reversal, train_adapted  # noqa: E402
from quantize.transfer.backbone import build_trunk  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("lambda_", [1.0, 0.25, 3.0])
def test_gradient_reversal_flips_and_scales_the_gradient(lambda_):
    x = tf.Variable([[1.0, -2.0, 3.0]])
    w = tf.constant([[0.5, 2.0, -1.0]])
    with tf.GradientTape(persistent=True) as tape:
        y = gradient_reversal(x, lambda_)
        plain = tf.reduce_sum(x * w)
        reversed_ = tf.reduce_sum(y * w)
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # identity forward
    np.testing.assert_allclose(tape.gradient(plain, x).numpy(), w.numpy())
    np.testing.assert_allclose(tape.gradient(reversed_, x).numpy(), -lambda_ * w.numpy())


def test_gradient_reversal_layer_follows_its_lambda_variable():
    layer = GradientReversal(0.0)
    x = tf.Variable(np.ones((2, 3), np.float32))
    for value in (0.0, 0.7):
        layer.lambda_.assign(value)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(2.0 * layer(x))
        np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -2.0 * value * np.ones((2, 3)))
    assert dann_lambda(0.0) == 0.0 and dann_lambda(1.0, 0.5) == pytest.approx(0.5, abs=1e-4)


def test_coral_matches_the_formula_on_a_hand_made_example():
    source = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    target = np.array([[0.0, 0.0], [2.0, 2.0], [4.0, 0.0]])
    cs, ct = np.cov(source, rowvar=False), np.cov(target, rowvar=False)  # ddof=1
    expected = np.sum((cs - ct) ** 2) / (4 * 2**2)
    assert float(coral_loss(source, target)) == pytest.approx(expected, rel=1e-5)
    assert float(coral_loss(source, source)) == pytest.approx(0.0, abs=1e-7)


def test_adabn_sets_moving_statistics_to_the_target_statistics():
    inputs = keras.Input((2, 3))
    dense = keras.layers.Dense(3)
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inputs, bn(dense(inputs)))
    bn.trainable = False  # frozen layers are adapted too, and stay frozen
    x = np.random.default_rng(0).normal(2.0, 3.0, (50, 2, 3)).astype(np.float32)
    assert adabn(model, x) == [bn.name]
    h = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), h.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), h.var(axis=(0, 1)), rtol=1e-4)  # population variance
    assert bn.trainable is False and bn.momentum == 0.99
    # in inference the adapted layer now standardises the target data
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), 0.0, atol=1e-3)
    with pytest.raises(ConfigError, match="at least 2 target windows"):
        adabn(model, x[:1])


def test_dann_training_runs_and_logs_the_lambda_ramp():
    rng = np.random.default_rng(0)
    trunk = build_trunk((49, 40), filters=8, blocks=1)
    xs = rng.normal(-6, 4, (16, 49, 40)).astype(np.float32)
    xt = rng.normal(-4, 4, (16, 49, 40)).astype(np.float32)
    model, log = train_adapted(trunk, xs, rng.integers(0, 2, 16), xt, 2, method="dann", epochs=2, batch_size=8)
    lambdas = [e["lambda"] for e in log["epochs"]]
    assert 0 < lambdas[0] < lambdas[1] <= 1.0
    assert log["epochs"][0]["adapt_loss"] > 0
    assert model.predict(xs[:2], verbose=0).shape == (2, 2)
    with pytest.raises(ConfigError, match="method='mmd'"):
        train_adapted(trunk, xs, np.zeros(16), xt, 2, method="mmd")

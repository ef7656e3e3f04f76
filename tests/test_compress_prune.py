"""Magnitude pruning reaches its sparsity; structured pruning really removes channels."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from quantize.train import zoo  # noqa: E402
from quantize.train.plan import FitPlan  # noqa: E402
from quantize.export.int8 import tensor_types, to_tflite  # noqa: E402
from quantize.compress.prune import PruneConfig, kernel_of, prune  # noqa: E402
from quantize.compress.channels import ChannelPruneConfig, plan, prune_channels, shrink  # noqa: E402
from conftest import separable_arrays  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402

SHAPE = (16, 10)


@pytest.fixture(scope="module")
def data():
    return separable_arrays(128, shape=SHAPE)


def _trained_bn(model, seed=0):
    """Give batch norms non-trivial statistics so channel importances differ."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 2, n)])
    return model


def test_magnitude_pruning_reaches_target_and_leaves_excluded_layers_dense(data):
    model = zoo.build("ds_cnn_s", SHAPE, 3, filters=16, blocks=2)
    pruned, info = prune(model, data, PruneConfig(sparsity=0.75, exclude=("first", "last"), fit=FitPlan(epochs=2, lr=5e-4)))
    first, last = model.layers[2].name, "scores"
    assert set(info["excluded_layers"]) == {first, last}
    for name, zeros in info["sparsity_by_layer"].items():
        measured = float(np.mean(kernel_of(pruned.get_layer(name)) == 0))
        assert measured == zeros
        if name in (first, last) or "depthwise" in name:
            assert zeros == 0.0, name  # never masked (tfmot does not prune depthwise kernels)
        else:
            assert zeros >= 0.75 - 0.01, (name, zeros)
    assert not any("prune" in layer.name for layer in pruned.layers)  # stripped
    assert info["sparsity"] >= 0.74 and info["sparsity_all_weights"] < info["sparsity"]
    with pytest.raises(ConfigError, match="sparsity=1.5"):
        PruneConfig(sparsity=1.5)
    with pytest.raises(ConfigError, match="'nope' is not a layer"):
        prune(model, data, PruneConfig(exclude=("nope",)))


def test_channel_pruning_shrinks_ds_cnn_and_keeps_the_function_at_fraction_zero(data):
    model = _trained_bn(zoo.build("ds_cnn_s", SHAPE, 3, filters=16, blocks=2))
    x = data.x_val[:8]
    same = shrink(model, plan(model, ChannelPruneConfig(fraction=0.0)))
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

    small, info = prune_channels(model, ChannelPruneConfig(fraction=0.5, round_to=4, fit=FitPlan(epochs=1)), data)
    convs = [layer for layer in small.layers if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D")]
    assert all(layer.output_shape[-1] == 8 for layer in convs)
    assert zoo.count_params(small) < 0.5 * zoo.count_params(model)
    assert zoo.count_macs(small) < 0.5 * zoo.count_macs(model)
    assert small.output_shape == model.output_shape
    assert info["channels"][model.layers[2].name] == [8, 16]
    tflite = to_tflite(small, mode="int8", calibration=data.x_train[:32])
    assert set(tensor_types(tflite).values()) <= {"int8", "int32"}
    assert Engine(tflite).predict(x[0]).shape == (3,)


def test_channel_pruning_keeps_the_most_important_filters():
    model = _trained_bn(zoo.build("cnn_small", SHAPE, 3, filters=(8,)))
    conv = model.layers[2]
    kernel = conv.get_weights()[0]
    kernel[..., [1, 6]] *= 100.0  # make two filters clearly the largest
    conv.set_weights([kernel])
    bn = model.layers[3]
    weights = bn.get_weights()
    weights[0][:], weights[3][:] = 1.0, 1.0
    bn.set_weights(weights)
    kept = plan(model, ChannelPruneConfig(fraction=0.75, round_to=2))
    assert kept[conv.name].tolist() == [1, 6]


def test_channel_pruning_refuses_branching_models():
    model = zoo.build("bc_resnet", SHAPE, 3, width=1)
    with pytest.raises(ConfigError, match="only linear chains"):
        plan(model, ChannelPruneConfig(fraction=0.5))
    with pytest.raises(ConfigError, match="fraction=1.0"):
        ChannelPruneConfig(fraction=1.0)

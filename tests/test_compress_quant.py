"""Quantization-aware training converts to int8-only ops; clustering leaves <= k values."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from quantize.train import zoo  # noqa: E402
from quantize.train.plan import FitPlan  # noqa: E402
from quantize.compress.cluster import ClusterConfig, cluster  # noqa: E402
from quantize.export.int8 import tensor_types, to_tflite  # noqa: E402
from quantize.compress.prune import kernel_of  # noqa: E402
from quantize.compress.qat import QatConfig, choose_scheme, quantize_aware  # noqa: E402
from conftest import separable_arrays  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402

SHAPE = (16, 10)


@pytest.fixture(scope="module")
def data():
    return separable_arrays(96, shape=SHAPE)


def test_qat_model_converts_with_int8_ops_only(data):
    model = zoo.build("ds_cnn_s", SHAPE, 3, filters=8, blocks=1)
    qat_model, info = quantize_aware(model, data, QatConfig(fit=FitPlan(epochs=1, lr=2e-4)))
    assert info["scheme"] == "default"
    assert any("quant" in layer.name for layer in qat_model.layers)
    tflite = to_tflite(qat_model, mode="int8", calibration=data.x_train[:32])
    types = tensor_types(tflite)
    assert set(types.values()) <= {"int8", "int32"}, {k: v for k, v in types.items() if v not in ("int8", "int32")}
    keras_pred = np.argmax(qat_model.predict(data.x_val, verbose=0), -1)
    int8_pred = np.argmax(Engine(tflite).predict_batch(data.x_val)[0], -1)
    assert np.mean(keras_pred == int8_pred) >= 0.9
    with pytest.raises(ConfigError, match="scheme='nope'"):
        QatConfig(scheme="nope")


def test_clustering_leaves_at_most_k_values_per_kernel(data):
    model = zoo.build("ds_cnn_s", SHAPE, 3, filters=8, blocks=1)
    first = model.layers[2].name
    pointwise = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"][-1]
    clustered, info = cluster(model, data, ClusterConfig(clusters=6, per_layer={pointwise: 3}, fit=FitPlan(epochs=1, lr=2e-4)))
    for name, k in info["clusters_by_layer"].items():
        assert np.unique(kernel_of(clustered.get_layer(name))).size <= k, name
    assert info["clusters_by_layer"][pointwise] == 3
    assert first not in info["clusters_by_layer"]
    assert np.unique(kernel_of(clustered.get_layer(first))).size > 6  # excluded: untouched
    assert choose_scheme(clustered) in ("cluster_preserve", "default")
    with pytest.raises(ConfigError, match="clusters must be an integer >= 2"):
        ClusterConfig(clusters=1)

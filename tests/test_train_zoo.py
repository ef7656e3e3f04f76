"""Model zoo: every model builds, counts by hand, converts to full int8 and runs in the Engine."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from quantize.train import zoo  # noqa: E402
from quantize.export.int8 import tensor_types, to_tflite  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402

INPUT = (25, 20)  # small (frames, features) windows keep conversion fast


def test_registry_has_every_model():
    assert {"ds_cnn_s", "ds_cnn_m", "ds_cnn_l", "bc_resnet", "crnn", "cnn_small"} <= set(zoo.MODELS)


@pytest.mark.parametrize(
    "name, params, expected_params, expected_macs",
    [
        # conv 10x4x1x4=160 (+BN 16) on 4x3 out: 4*3*4*40=1920 MACs; depthwise 3x3x4=36 (+16): 432;
        # pointwise 4x4=16 (+16): 192; dense 4*3+3=15: 12.
        ("ds_cnn_s", {"filters": 4, "blocks": 1}, 160 + 16 + 36 + 16 + 16 + 16 + 15, 1920 + 432 + 192 + 12),
        # conv 5x3x1x2=30 (+8) on 4x3 out: 360; conv 3x3x2x2=36 (+8) on 4x2: 288;
        # GRU in 4, units 3: 3*(4*3+3*3)+2*3*3=81, 4 steps*3*(4+3)*3=252; dense 3->4: 16/12; 4->3: 15/12.
        ("crnn", {"filters": 2, "units": 3, "dense_units": 4}, 30 + 8 + 36 + 8 + 81 + 16 + 15, 360 + 288 + 252 + 24),
    ],
)
def test_counts_match_hand_count(name, params, expected_params, expected_macs):
    model = zoo.build(name, (8, 6), 3, **params)
    assert zoo.count_params(model) == expected_params == model.count_params()
    assert zoo.count_macs(model) == expected_macs


@pytest.mark.parametrize("name, params", [(n, {}) for n in zoo.MODELS] + [("bc_resnet", {"width": 2})])
def test_converts_to_full_int8_and_matches_keras(name, params):
    model = zoo.build(name, INPUT, 4, **params)
    assert zoo.count_params(model) == model.count_params()
    assert zoo.count_macs(model) > 0
    rng = np.random.default_rng(0)
    calibration = rng.normal(-6, 3, (32, *INPUT)).astype(np.float32)
    tflite = to_tflite(model, mode="int8", calibration=calibration)
    types = tensor_types(tflite)
    assert set(types.values()) <= {"int8", "int32"}, {k: v for k, v in types.items() if v not in ("int8", "int32")}
    assert "int8" in types.values()
    engine = Engine(tflite)
    assert engine.input_dtype == np.int8
    windows = calibration[:8]
    int8_scores = engine.predict_batch(windows)[0]
    float_scores = model(windows, training=False).numpy()
    assert int8_scores.shape == (8, 4)
    np.testing.assert_allclose(int8_scores.sum(axis=1), 1.0, atol=0.03)
    assert np.abs(int8_scores - float_scores).max() < 0.05


def test_unknown_model_and_param_are_clear_errors():
    with pytest.raises(ConfigError, match="'resnet9000' is not a registered model"):
        zoo.build("resnet9000", INPUT, 3)
    with pytest.raises(ConfigError, match=r"unknown param\(s\) \['widht'\]"):
        zoo.build("bc_resnet", INPUT, 3, widht=2)
    with pytest.raises(ConfigError, match="width=9 must be an integer 1..8"):
        zoo.build("bc_resnet", INPUT, 3, width=9)

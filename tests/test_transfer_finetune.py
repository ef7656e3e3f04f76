"""Fine-tuning modes: what trains and what stays as shipped."""
import numpy as np
import pytest

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")

import tf_keras as keras  # noqa: E402

from quantize.transfer.backbone import build_trunk, stage_layers  # noqa: E402
from quantize.transfer.finetune import fine_tune, set_trainable, student_from_backbone, trainable_stage_names, unfreeze_order  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(-6, 4, (n, 49, 40)).astype(np.float32), rng.integers(0, 3, n)


def _snapshot(layers):
    return [w.copy() for layer in layers for w in layer.get_weights()]


def test_frozen_mode_keeps_backbone_weights_and_statistics_while_the_head_learns():
    keras.utils.set_random_seed(0)  # the trunk's initial weights must not depend on which tests ran before
    trunk = build_trunk((49, 40), filters=8, blocks=2)
    before = [w.copy() for w in trunk.get_weights()]  # includes batch-norm moving statistics
    x, y = _data()
    x[np.arange(len(y)), :, y] += 20.0  # learnable: one feature bin per class, so the loss can fall
    model, log = fine_tune(trunk, x, y, 3, mode="frozen", epochs=2, batch_size=8)
    for a, b in zip(before, trunk.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert log["phases"] == [{"trainable": [], "lr": 3e-3, "epochs": 2}]
    bias = model.get_layer("scores").get_weights()[1]
    assert np.abs(bias).max() > 1e-4  # the head trained: its bias started at zero
    assert log["history"][0]["loss"][-1] < log["history"][0]["loss"][0]


def test_progressive_unfreezing_goes_from_the_top_block_down_to_the_stem():
    trunk = build_trunk((49, 40), filters=8, blocks=2)
    assert unfreeze_order(trunk) == ["block2", "block1", "stem"]
    x, y = _data()
    _, log = fine_tune(trunk, x, y, 3, mode="progressive", epochs=4, batch_size=8)
    assert [p["trainable"] for p in log["phases"]] == [[], ["block2"], ["block2", "block1"], ["block2", "block1", "stem"]]
    assert [p["lr"] for p in log["phases"]] == pytest.approx([3e-3, 3e-4, 3e-4, 3e-4])


def test_a_partial_unfreeze_moves_only_the_unfrozen_stage():
    trunk = build_trunk((49, 40), filters=8, blocks=2)
    set_trainable(trunk, ["block2"])
    assert trainable_stage_names(trunk) == ["block2"]
    frozen = stage_layers(trunk, "stem") + stage_layers(trunk, "block1")
    before, before_top = _snapshot(frozen), _snapshot(stage_layers(trunk, "block2"))
    model = keras.Sequential([trunk, keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(*_data(), epochs=1, batch_size=8, verbose=0)
    for a, b in zip(before, _snapshot(frozen)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, b) for a, b in zip(before_top, _snapshot(stage_layers(trunk, "block2"))))


def test_full_mode_warms_the_head_then_trains_all_at_a_lower_rate_and_scratch_reinitialises():
    trunk = build_trunk((49, 40), filters=8, blocks=1)
    x, y = _data()
    _, log = fine_tune(trunk, x, y, 3, mode="full", epochs=4, lr=1e-2, full_lr_scale=0.1, batch_size=8)
    assert [(p["trainable"], p["epochs"]) for p in log["phases"]] == [([], 1), (["stem", "block1"], 3)]
    assert log["phases"][1]["lr"] == pytest.approx(1e-3)
    weights = [w.copy() for w in trunk.get_weights()]
    model, _ = fine_tune(trunk, x, y, 3, mode="scratch", epochs=0)
    assert model.layers[1] is not trunk
    with pytest.raises(ConfigError, match="mode='linear'"):
        fine_tune(trunk, x, y, 3, mode="linear")
    student = student_from_backbone(trunk, 5)
    assert not any(isinstance(layer, keras.Model) for layer in student.layers)  # flat
    np.testing.assert_array_equal(student.get_layer("stem_conv").get_weights()[0], weights[0])
    assert student.output_shape == (None, 5)

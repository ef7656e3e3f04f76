"""The one fit: FitPlan checks, best_epoch counted from 1, one history format, objectives as models."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import quantize  # noqa: F401,E402  (legacy Keras before TensorFlow loads)
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from quantize import recipe  # noqa: E402
from quantize.compress import recipe as compress_recipe  # noqa: E402
from quantize.train.fit import Arrays, Batches, FitPlan, KeepBest, fit, schedule  # noqa: E402
from quantize.train.objectives.domain import dann_lambda  # noqa: E402
from quantize.train.objectives.multitask import MultiTask  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("options, match", [
    ({"epochs": 0}, r"epochs: Input should be greater than or equal to 1 \(got 0\)"),
    ({"schedule": "linear"}, r"schedule: Input should be 'cosine' or 'constant' \(got 'linear'\)"),
    ({"optimizer": "sgd"}, r"optimizer: "),
    ({"lr": 0}, r"lr: Input should be greater than 0"),
    ({"min_lr_fraction": 1.5}, r"min_lr_fraction: "),
    ({"monitor": "accuracy"}, r"monitor: "),
    ({"epoch": 3}, r"epoch: unknown key"),
    ({"epochs": 2, "warmup_epochs": 3}, r"warmup_epochs=3.0 exceeds epochs=2"),
])
def test_plan_errors_name_the_key(options, match):
    with pytest.raises(ConfigError, match=match):
        FitPlan(**options)


def test_recipe_train_section_is_a_plan_with_its_own_defaults():
    values = {"data": {"keywords": ["a", "b"], "sources": [{"kind": "folders", "path": "x"}]}}
    with pytest.raises(ConfigError, match=r"train\.schedule: Input should be 'cosine' or 'constant'"):
        recipe.load({**values, "train": {"schedule": "linear"}})
    train = recipe.load({**values, "train": {"epochs": 4, "best_from_epoch": 2}}).train
    plan = train.plan()
    assert type(plan) is FitPlan
    assert (plan.epochs, plan.best_from_epoch, plan.optimizer, plan.lr, plan.warmup_epochs) == (4, 2, "adamw", 3e-3, 1.0)


def test_compress_stage_options_are_a_plan():
    (prune,) = compress_recipe.parse([{"prune": {"sparsity": 0.5, "learning_rate": 1e-4, "grad_clip_norm": 1.0}}])
    plan = prune.plan()
    assert (plan.lr, plan.grad_clip_norm, plan.epochs) == (1e-4, 1.0, 10)
    with pytest.raises(ConfigError, match=r"compress stage 0 \(qat\): schedule: "):
        compress_recipe.parse([{"qat": {"schedule": "step"}}])
    (cluster,) = compress_recipe.parse([{"cluster": {"epochs": 0}}])
    assert cluster.fit_plan() is None  # 0 epochs: no fine-tuning


def test_default_schedule_is_cosine_to_zero_as_before():
    # the compression stages trained with Adam(CosineDecay(lr, all steps)); the default plan must too
    steps_per_epoch, plan = 7, FitPlan(epochs=3, lr=2e-3)
    ours = schedule(plan, steps_per_epoch)
    theirs = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=3 * steps_per_epoch)
    for step in (0, 1, 10, 20, 21, 30):
        assert float(ours(step)) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-9)
    warm = schedule(FitPlan(epochs=3, lr=2e-3, warmup_epochs=1, schedule="constant"), steps_per_epoch)
    assert float(warm(0)) == pytest.approx(2e-3 / 7)
    assert float(warm(15)) == pytest.approx(2e-3)


def test_keep_best_counts_epochs_from_one_and_waits_for_from_epoch():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    keep = KeepBest("val_accuracy", "max", from_epoch=2)
    keep.set_model(model)
    for epoch, acc in enumerate([0.9, 0.8, 0.7, 0.75]):  # the best overall (0.9) is before from_epoch
        model.set_weights([np.full((2, 1), epoch, np.float32), np.zeros(1, np.float32)])
        keep.on_epoch_end(epoch, {"val_accuracy": acc})
    keep.on_train_end()
    assert keep.best_epoch == 2  # the second epoch (index 1): counted from 1, from_epoch included
    assert model.get_weights()[0][0, 0] == 1.0
    low = KeepBest("val_loss", "min")
    low.set_model(model)
    for epoch, loss in enumerate([0.5, 0.4, 0.45]):
        low.on_epoch_end(epoch, {"val_loss": loss})
    assert low.best_epoch == 2


def _arrays(n=48, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, 4)).astype(np.float32) + y[:, None] * 1.5
    return Arrays(x[:32], y[:32], x[32:], y[32:])


def _model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])


def test_fit_history_format_and_run_folder(tmp_path):
    model, history = fit(_model(), _arrays(), FitPlan(epochs=3, batch_size=8, lr=0.05), run_dir=tmp_path)
    assert history["epochs_run"] == 3 and len(history["loss"]) == len(history["lr"]) == len(history["elapsed_s"]) == 3
    assert history["best_epoch"] == int(np.argmax(history["val_accuracy"])) + 1
    assert history["lr"][-1] < history["lr"][0]  # cosine
    assert (tmp_path / "history.csv").read_text().splitlines()[0].split(",")[0] == "epoch"
    assert (tmp_path / "checkpoints" / "best_weights.h5").is_file()
    _, last = fit(_model(), _arrays(), FitPlan(epochs=3, batch_size=8, best_weights="last", schedule="constant"))
    assert last["best_epoch"] == 3 and last["lr"] == pytest.approx([1e-3] * 3)
    data = _arrays()
    _, unvalidated = fit(_model(), Arrays(data.x_train, data.y_train), FitPlan(epochs=2, batch_size=8))
    assert unvalidated["best_epoch"] == 2 and "val_accuracy" not in unvalidated


def test_fit_builds_model_and_batches_when_asked():
    data = _arrays()
    calls = []

    def batches():  # fit calls it after the distribution strategy exists
        calls.append("data")
        train = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train)).batch(8)
        return Batches(train, 4, tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(8))

    model, history = fit(lambda: calls.append("model") or _model(), batches, FitPlan(epochs=2, lr=0.05))
    assert calls == ["data", "model"] and isinstance(model, keras.Model)
    assert 1 <= history["best_epoch"] <= 2 and len(history["val_accuracy"]) == 2


def test_fit_refuses_a_plan_that_is_not_one():
    with pytest.raises(ConfigError, match="plan must be a FitPlan"):
        fit(_model(), _arrays(), {"epochs": 1})


def test_multitask_objective_trains_only_labelled_heads():
    inputs = keras.Input((4,))
    outputs = [keras.layers.Dense(3, activation="softmax", name=f"out{i:02d}")(inputs) for i in range(2)]
    model = keras.Model(inputs, outputs)
    head_b = model.get_layer("out01").get_weights()[0].copy()
    head_a = model.get_layer("out00").get_weights()[0].copy()
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (32, 4)).astype(np.float32)
    ys = (rng.integers(0, 3, 32), np.full(32, -1))  # head b has no labels at all
    data = Batches(tf.data.Dataset.from_tensor_slices((x, ys)).batch(8), math.ceil(32 / 8))
    trainer = MultiTask(model, weighting="fixed")
    _, history = fit(trainer, data, FitPlan(epochs=2, lr=0.05, best_weights="last"), loss=None, metrics=None)
    assert history["head_1"] == [0.0, 0.0]
    assert np.array_equal(model.get_layer("out01").get_weights()[0], head_b)
    assert not np.array_equal(model.get_layer("out00").get_weights()[0], head_a)
    assert history["total"][-1] == pytest.approx(history["head_0"][-1], rel=1e-5)


def test_domain_adapter_ramps_lambda_over_the_plans_steps():
    from quantize.transfer.adapt import train_adapted
    from quantize.transfer.backbone import build_trunk

    rng = np.random.default_rng(0)
    xs, xt = rng.normal(0, 1, (20, 8, 6)), rng.normal(1, 1, (12, 8, 6))
    _, log = train_adapted(build_trunk((8, 6), filters=8, blocks=1), xs, rng.integers(0, 2, 20), xt, 2, method="dann",
                           epochs=3, batch_size=8)
    steps = 3 * math.ceil(20 / 8)
    assert [e["lambda"] for e in log["epochs"]] == pytest.approx(
        [dann_lambda((k * 3 - 1) / steps) for k in (1, 2, 3)], rel=1e-5)
    assert log["history"]["best_epoch"] == 3

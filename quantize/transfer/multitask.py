"""Multi-task models: one shared trunk, several softmax heads, one artifact.

Loss weighting is ``fixed`` or ``uncertainty`` (Kendall et al. 2018), the
objective :class:`quantize.train.objectives.multitask.MultiTask` (a
``keras.Model`` with its own ``train_step``) that :func:`train` fits. A label
of ``-1`` marks "no label for this head", so datasets labelled for different
heads can be mixed.

Output order: the TFLite converter orders a Keras model's outputs by output
*name* (tensor indices follow the sorted signature names), whatever the
model's output list says, and ``sdk.engine.Engine`` returns them by tensor
index. :func:`build` therefore names output ``i`` ``out{i:02d}_{head}``, and
:func:`export` checks on real windows that TFLite output ``i`` is Keras head
``i`` before writing the Bundle.
"""
from __future__ import annotations

import math

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.run import to_bundle
from quantize.train.fit import Batches, FitPlan, fit
from quantize.train.objectives.multitask import (  # noqa: F401  (re-exported)
    WEIGHTINGS, MultiTask, UncertaintyWeighting, masked_ce,
)
from sdk.bundle import Bundle, Head
from sdk.errors import ConfigError, ModelError


def output_name(index: int, head: str) -> str:
    return f"out{index:02d}_{head}"


def build(trunk: keras.Model, heads, *, dropout: float = 0.2, name: str = "multitask") -> keras.Model:
    """Shared ``trunk`` and one softmax per ``(name, num_classes)`` in ``heads``, outputs in that order."""
    heads = list(heads)
    if not heads:
        raise ConfigError("multitask.build: heads is empty")
    inputs = keras.Input(trunk.input_shape[1:], name="features")
    h = trunk(inputs)
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    outputs = [keras.layers.Dense(n, activation="softmax", name=output_name(i, head))(h) for i, (head, n) in enumerate(heads)]
    return keras.Model(inputs, outputs, name=name)


def train(model: keras.Model, x, ys, *, weighting: str = "uncertainty", loss_weights=None, epochs: int = 20,
          batch_size: int = 32, lr: float = 1e-3, seed: int = 0, plan: FitPlan | None = None) -> dict:
    """Train all heads together (:class:`MultiTask` through the one ``fit``); ``ys`` is one int label
    array per output (``-1`` = no label). ``plan`` (default: Adam at constant ``lr``) replaces
    ``epochs``, ``batch_size``, ``lr`` and ``seed``.

    Returns a log with the ``fit`` history, per-epoch head losses and, for
    ``uncertainty``, the learned ``log_vars`` and effective weights.
    """
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"multitask.train: weighting={weighting!r} must be one of {WEIGHTINGS}")
    outputs = model.outputs
    if len(ys) != len(outputs):
        raise ConfigError(f"multitask.train: {len(ys)} label arrays for {len(outputs)} heads")
    x = np.asarray(x, np.float32)
    ys = [np.asarray(y, np.int64) for y in ys]
    if any(len(y) != len(x) for y in ys):
        raise ConfigError(f"multitask.train: label arrays of lengths {[len(y) for y in ys]} for {len(x)} windows")
    weights = list(loss_weights) if loss_weights is not None else [1.0] * len(ys)
    if len(weights) != len(ys):
        raise ConfigError(f"multitask.train: loss_weights={weights} has {len(weights)} values for {len(ys)} heads")
    plan = plan or FitPlan(epochs=epochs, batch_size=batch_size, lr=lr, schedule="constant", best_weights="last",
                           seed=seed)
    batches = (tf.data.Dataset.from_tensor_slices((x, tuple(ys)))
               .shuffle(len(x), seed=0 if plan.seed is None else plan.seed).batch(plan.batch_size))
    trainer = MultiTask(model, weighting=weighting, loss_weights=weights)
    _, history = fit(trainer, Batches(batches, math.ceil(len(x) / plan.batch_size)), plan, loss=None, metrics=None,
                     label="epochs (multitask)")
    log = {"weighting": weighting, "history": history, "epochs": []}
    for e in range(history["epochs_run"]):
        entry = {"head_losses": [history[f"head_{i}"][e] for i in range(len(ys))], "total": history["total"][e]}
        if trainer.weighter:
            entry["log_vars"] = [history[f"log_var_{i}"][e] for i in range(len(ys))]
        log["epochs"].append(entry)
    if trainer.weighter:
        log["log_vars"] = [float(v) for v in trainer.weighter.log_vars.numpy()]
        log["effective_weights"] = trainer.weighter.weights_now()
    return log


def check_output_order(model: keras.Model, tflite_model: bytes, windows: np.ndarray, *, source: str = "model") -> None:
    """Raise ``ModelError`` unless Engine output ``i`` of ``tflite_model`` is Keras output ``i``.

    Compares shapes, then which Keras head each TFLite output is closest to
    on ``windows`` (int8 outputs differ from float ones by quantization only).
    """
    from sdk.engine import Engine

    windows = np.asarray(windows, np.float32)
    expected = model.predict(windows, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    got = Engine(tflite_model).predict_batch(windows)
    if len(got) != len(expected):
        raise ModelError(f"{source}: TFLite model has {len(got)} outputs, Keras model {len(expected)}")
    for i, g in enumerate(got):
        errors = [np.abs(g - e).mean() if g.shape == e.shape else np.inf for e in expected]
        if int(np.argmin(errors)) != i:
            raise ModelError(
                f"{source}: TFLite output {i} matches Keras output {int(np.argmin(errors))} "
                f"({model.output_names[int(np.argmin(errors))]!r}); outputs were reordered by conversion"
            )


def export(model: keras.Model, heads, *, frontend, calibration: np.ndarray, mode: str = "int8", name: str = "multitask",
           task: str = "multitask", aggregate: str = "mean", provenance: dict | None = None) -> Bundle:
    """Convert and wrap as ONE Bundle with ``heads`` (``sdk.bundle.Head``), checking the output order."""
    from quantize.export.int8 import to_tflite

    heads = [h if isinstance(h, Head) else Head(h[0], tuple(h[1])) for h in heads]
    if len(heads) != len(model.outputs):
        raise ConfigError(f"multitask.export: {len(heads)} heads for a model with {len(model.outputs)} outputs")
    for i, (head, out) in enumerate(zip(heads, model.outputs)):
        if out.shape[-1] != len(head.labels):
            raise ConfigError(
                f"multitask.export: head {i} {head.name!r} has {len(head.labels)} labels but output "
                f"{model.output_names[i]!r} has {out.shape[-1]} scores"
            )
    tflite = to_tflite(model, mode=mode, calibration=calibration)
    check_output_order(model, tflite, np.asarray(calibration, np.float32)[:64], source=name)
    return to_bundle(tflite, frontend=frontend, heads=heads, name=name, task=task, aggregate=aggregate,
                     provenance=provenance)

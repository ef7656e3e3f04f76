"""Multi-task models: one shared trunk, several softmax heads, one artifact.

Loss weighting is ``fixed`` (``sum_i w_i L_i``) or ``uncertainty`` (Kendall,
Gal & Cipolla 2018, arXiv:1705.07115): each task ``i`` has a trainable
log-variance ``s_i = log sigma_i^2`` (initially 0) and the total is

    sum_i exp(-s_i) * L_i + s_i / 2

(the classification form ``L / sigma^2 + log sigma``), so a task whose loss
stays high is down-weighted, with ``s_i / 2`` stopping all ``sigma`` from
growing without bound. A label of ``-1`` marks "no label for this head" and
drops that example from the head's loss, so datasets labelled for different
heads can be mixed.

Output order: the TFLite converter orders a Keras model's outputs by output
*name* (tensor indices follow the sorted signature names), whatever the
model's output list says, and ``sdk.engine.Engine`` returns them by tensor
index. :func:`build` therefore names output ``i`` ``out{i:02d}_{head}``, and
:func:`export` checks on real windows that TFLite output ``i`` is Keras head
``i`` before writing the Bundle.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize.run import to_bundle
from sdk.bundle import Bundle, Head
from sdk.errors import ConfigError, ModelError

WEIGHTINGS = ("fixed", "uncertainty")


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


class UncertaintyWeighting(keras.layers.Layer):
    """Kendall et al.'s weighting; ``log_vars`` (one per task, trainable) start at 0."""

    def __init__(self, num_tasks: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tasks = int(num_tasks)
        self.log_vars = self.add_weight(name="log_vars", shape=(self.num_tasks,), initializer="zeros", trainable=True)

    def call(self, losses):
        losses = tf.stack(list(losses))
        return tf.reduce_sum(tf.exp(-self.log_vars) * losses + 0.5 * self.log_vars)

    def weights_now(self) -> list[float]:
        """Effective weights ``exp(-s_i)``."""
        return [float(v) for v in np.exp(-self.log_vars.numpy())]


def masked_ce(y, p):
    """Mean sparse cross-entropy over examples with ``y >= 0`` (0 when none)."""
    y = tf.cast(y, tf.int64)
    mask = tf.cast(y >= 0, tf.float32)
    ce = keras.losses.sparse_categorical_crossentropy(tf.maximum(y, 0), p)
    return tf.reduce_sum(ce * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def train(model: keras.Model, x, ys, *, weighting: str = "uncertainty", loss_weights=None, epochs: int = 20,
          batch_size: int = 32, lr: float = 1e-3, seed: int = 0) -> dict:
    """Train all heads together; ``ys`` is one int label array per output (``-1`` = no label).

    Returns a log with per-epoch head losses and, for ``uncertainty``, the
    learned ``log_vars`` and effective weights.
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
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    weighter = UncertaintyWeighting(len(ys), name="uncertainty") if weighting == "uncertainty" else None
    variables = model.trainable_variables + (weighter.trainable_variables if weighter else [])
    optimizer = keras.optimizers.Adam(lr)
    fixed = tf.constant(weights, tf.float32)

    @tf.function
    def step(xb, *yb):
        with tf.GradientTape() as tape:
            preds = model(xb, training=True)
            preds = preds if isinstance(preds, (list, tuple)) else [preds]
            losses = [masked_ce(y, p) for y, p in zip(yb, preds)]
            total = weighter(losses) if weighter else tf.reduce_sum(fixed * tf.stack(losses))
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return tf.stack(losses), total

    steps = int(np.ceil(len(x) / batch_size))
    log = {"weighting": weighting, "epochs": []}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        sums = np.zeros(len(ys) + 1)
        for s in range(steps):
            idx = order[s * batch_size : (s + 1) * batch_size]
            losses, total = step(x[idx], *[y[idx] for y in ys])
            sums += [*losses.numpy(), float(total)]
        entry = {"head_losses": list(sums[:-1] / steps), "total": sums[-1] / steps}
        if weighter:
            entry["log_vars"] = [float(v) for v in weighter.log_vars.numpy()]
        log["epochs"].append(entry)
    if weighter:
        log["log_vars"] = [float(v) for v in weighter.log_vars.numpy()]
        log["effective_weights"] = weighter.weights_now()
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

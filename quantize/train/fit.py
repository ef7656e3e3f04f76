"""The one fit: every model in ``quantize`` trains through ``fit(model, data, plan)``.

``plan`` is a :class:`quantize.train.plan.FitPlan` (optimizer, learning-rate
schedule, clipping, early stopping, best-weights policy, seed, mixed
precision, distribution strategy). ``data`` is :class:`Arrays` (feature
windows and integer labels, batched and shuffled by Keras) or
:class:`Batches` (a ``tf.data`` pipeline yielding whatever the model's
``train_step`` takes). A special objective (distillation, domain adaptation,
multi-task weighting) is a ``keras.Model`` with its own ``train_step``
(``quantize.train.objectives``) or a Keras loss; none has its own loop.

The history is one dict for every caller: per-epoch lists of floats for each
logged metric (``loss``, ``val_accuracy``, ..., ``lr``, ``elapsed_s``), plus
``best_epoch`` (the epoch, counted from 1, whose weights the model holds when
``fit`` returns), ``epochs_run`` and ``train_time_s``.
"""
from __future__ import annotations

import logging
import math
import pathlib
import time
from dataclasses import dataclass

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize import progress
from quantize.train.plan import FitPlan
from sdk.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["Arrays", "Batches", "FitPlan", "KeepBest", "WarmupCosine", "accuracy", "fit", "optimizer",
           "schedule", "seed_everything"]


@dataclass(frozen=True)
class Arrays:
    """Feature windows and integer labels: train, validation (optional) and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    soft_train: np.ndarray | None = None  # a teacher's probabilities at its temperature, one row per x_train

    @classmethod
    def load(cls, path) -> "Arrays":
        """From an ``.npz`` with ``x_train, y_train, x_val, y_val[, x_test, y_test]``."""
        try:
            z = np.load(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read feature arrays ({exc})") from None
        missing = [k for k in ("x_train", "y_train", "x_val", "y_val") if k not in z.files]
        if missing:
            raise ConfigError(f"{path}: missing arrays {missing}; has {z.files}")
        get = lambda k: z[k] if k in z.files else None  # noqa: E731
        return cls(*(get(k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "soft_train")))

    def save(self, path) -> None:
        arrays = {k: v for k, v in vars(self).items() if v is not None}
        np.savez_compressed(path, **arrays)


@dataclass(frozen=True)
class Batches:
    """A ``tf.data`` pipeline of training batches (one pass = one epoch) and optional validation batches."""

    train: tf.data.Dataset
    steps_per_epoch: int
    val: tf.data.Dataset | None = None


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak_lr``, then cosine decay to ``peak_lr * min_fraction`` (or constant)."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int, min_fraction: float, cosine: bool = True):
        self.peak_lr, self.total_steps, self.warmup_steps = float(peak_lr), int(total_steps), int(warmup_steps)
        self.min_fraction, self.cosine = float(min_fraction), bool(cosine)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak_lr * (step + 1.0) / max(1.0, float(self.warmup_steps))
        if not self.cosine:
            decayed = tf.constant(self.peak_lr)
        else:
            span = max(1.0, float(self.total_steps - self.warmup_steps))
            done = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + tf.cos(math.pi * done))
            decayed = self.peak_lr * (self.min_fraction + (1.0 - self.min_fraction) * cosine)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "min_fraction": self.min_fraction, "cosine": self.cosine}


class KeepBest(keras.callbacks.Callback):
    """Keep, and restore at the end, the weights of the best ``monitor`` epoch at or after ``from_epoch``.

    Epochs count from 1; ties keep the first. The weights stay in memory: under
    MultiWorkerMirroredStrategy only the chief's checkpoint file survives, and
    every worker needs them.
    """

    def __init__(self, monitor: str = "val_accuracy", mode: str = "max", from_epoch: int = 1):
        super().__init__()
        self.monitor, self.sign, self.from_epoch = monitor, (1.0 if mode == "max" else -1.0), int(from_epoch)
        self.best, self.best_epoch, self.weights = -np.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or epoch + 1 < self.from_epoch:
            return
        if self.sign * float(value) > self.best:
            self.best, self.best_epoch, self.weights = self.sign * float(value), epoch + 1, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


class _EpochLog(keras.callbacks.Callback):
    """The elapsed time and the learning rate of each epoch, in the logs (history, CSV)."""

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["elapsed_s"] = time.perf_counter() - self.start
        optimizer = self.model.optimizer
        lr = optimizer.learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            lr = lr(optimizer.iterations)
        logs["lr"] = float(tf.convert_to_tensor(lr).numpy())


def seed_everything(seed: int | None, *, deterministic: bool = False) -> None:
    """Python, numpy and TensorFlow seeds (unless ``seed`` is None); op determinism when asked."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if deterministic:
        try:
            tf.config.experimental.enable_op_determinism()
        except (RuntimeError, AttributeError) as exc:  # e.g. already set in this process
            log.debug("op determinism not changed: %s", exc)


def _strategy(name: str):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":  # reads TF_CONFIG for the cluster
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def schedule(plan: FitPlan, steps_per_epoch: int) -> WarmupCosine:
    """The plan's learning rate by optimizer step: warm-up, then cosine (to ``lr * min_lr_fraction``) or constant."""
    steps_per_epoch = max(1, int(steps_per_epoch))
    return WarmupCosine(plan.lr, steps_per_epoch * plan.epochs, int(plan.warmup_epochs * steps_per_epoch),
                        plan.min_lr_fraction, plan.schedule == "cosine")


def optimizer(plan: FitPlan, steps_per_epoch: int):
    """Adam or AdamW on the plan's :func:`schedule`, with global-norm clipping when the plan asks."""
    rate = schedule(plan, steps_per_epoch)
    clip = {"global_clipnorm": plan.grad_clip_norm} if plan.grad_clip_norm else {}
    if plan.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=plan.weight_decay, **clip)
    return keras.optimizers.Adam(rate, **clip)


def _steps_per_epoch(data, plan: FitPlan) -> int:
    if isinstance(data, Batches):
        return int(data.steps_per_epoch)
    if isinstance(data, Arrays):
        return math.ceil(len(data.x_train) / plan.batch_size)
    raise ConfigError(f"fit: data must be fit.Arrays or fit.Batches, got {type(data).__name__}")


def _has_validation(data) -> bool:
    return (data.val if isinstance(data, Batches) else data.x_val) is not None


def _callbacks(plan: FitPlan, data, run_dir, label: str):
    """Epoch log, best weights, checkpoint and CSV history (with ``run_dir``), progress, early stopping."""
    keep = None
    extra = [_EpochLog()]
    validated = _has_validation(data)
    if validated and plan.best_weights == "best":
        keep = KeepBest(plan.monitor, plan.mode, from_epoch=min(plan.best_from_epoch, plan.epochs))
        extra.append(keep)
    if run_dir is not None:
        run_dir = pathlib.Path(run_dir)
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        if validated:
            extra.append(keras.callbacks.ModelCheckpoint(
                str(run_dir / "checkpoints" / "best_weights.h5"), monitor=plan.monitor, mode=plan.mode,
                save_best_only=True, save_weights_only=True))
        extra.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv")))
    shown = progress.keras_epochs(plan.epochs, label) if plan.progress else None
    if shown is not None:
        extra.append(shown)
    if validated and plan.early_stopping_patience:
        extra.append(keras.callbacks.EarlyStopping(monitor=plan.monitor, mode=plan.mode,
                                                   patience=plan.early_stopping_patience))
    return keep, extra


def fit(model, data, plan: FitPlan, *, loss="sparse_categorical_crossentropy", metrics=("accuracy",), callbacks=(),
        run_dir=None, label: str = "epochs", verbose: int = 0):
    """Compile ``model`` by ``plan`` and train it on ``data``; return ``(model, history)``.

    ``model``: a ``keras.Model``, or a callable with no arguments that builds
    one, which ``fit`` calls inside the plan's distribution strategy and
    mixed-precision policy (variables must be created there). ``loss`` and
    ``metrics`` go to ``compile``; ``data`` may also be a callable with no
    arguments that returns :class:`Batches`, called once the strategy exists
    (MultiWorkerMirroredStrategy must be created before any dataset); pass ``loss=None, metrics=None`` for a model
    whose ``train_step`` computes its own. ``callbacks`` run before fit's own.
    With ``run_dir``, the best weights go to ``run_dir/checkpoints/best_weights.h5``
    and the per-epoch history to ``run_dir/history.csv``. The model is trained
    in place and ends with the weights the plan's ``best_weights`` chooses;
    ``history["best_epoch"]`` (counted from 1) names their epoch.
    """
    if not isinstance(plan, FitPlan):
        raise ConfigError(f"fit: plan must be a FitPlan, got {type(plan).__name__}")
    seed_everything(plan.seed, deterministic=plan.deterministic)
    if plan.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(plan.threads)
        except RuntimeError:  # already initialised in this process
            pass
    strategy = _strategy(plan.strategy)  # before any dataset: collectives are configured at startup
    if not isinstance(data, (Arrays, Batches)) and callable(data):
        data = data()
    steps = _steps_per_epoch(data, plan)
    if isinstance(data, Arrays) and len(data.x_train) == 0:
        raise ConfigError("fit: no training examples (x_train is empty)")
    if plan.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with strategy.scope():
            if not isinstance(model, keras.Model):
                model = model()
            model.compile(optimizer=optimizer(plan, steps), loss=loss, metrics=list(metrics) if metrics else None,
                          weighted_metrics=[])
    finally:
        if plan.mixed_precision:
            keras.mixed_precision.set_global_policy("float32")
    keep, own = _callbacks(plan, data, run_dir, label)
    start = time.perf_counter()
    if isinstance(data, Batches):
        inputs = {"x": data.train, "validation_data": data.val}
    else:
        validation = None if data.x_val is None else (np.asarray(data.x_val, np.float32), np.asarray(data.y_val))
        inputs = {"x": np.asarray(data.x_train, np.float32), "y": np.asarray(data.y_train),
                  "batch_size": plan.batch_size, "validation_data": validation, "shuffle": True}
    result = model.fit(**inputs, epochs=plan.epochs, callbacks=[*callbacks, *own], verbose=verbose)
    history = {k: [float(v) for v in values] for k, values in result.history.items()}
    history["epochs_run"] = len(result.epoch)
    history["best_epoch"] = keep.best_epoch if keep is not None and keep.best_epoch else len(result.epoch)
    history["train_time_s"] = time.perf_counter() - start
    return model, history


def accuracy(model, x, y) -> float:
    """Top-1 accuracy of a Keras model."""
    scores = model.predict(np.asarray(x, np.float32), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(scores, -1) == np.asarray(y)))

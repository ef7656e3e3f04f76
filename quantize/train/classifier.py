"""Train a zoo model on feature arrays: the float model every export starts from.

``fit(recipe, arrays, run_dir)`` trains and returns the Keras model (best
validation weights restored) and its history; ``train(recipe, run_dir)`` is
the stage form used by the pipeline and the CLI (run folder in, run folder
out). The training objective is plain cross-entropy on one-hot targets, so a
teacher's soft targets can replace them later without changing the loop.
"""
from __future__ import annotations

import json
import logging
import math
import pathlib
import time

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tensorflow as tf
import tf_keras as keras

from quantize import progress
from quantize.train import objectives as soft_targets
from quantize.train import zoo
from quantize.train.fit import Arrays
from quantize.recipe import Recipe
from sdk.errors import ConfigError

log = logging.getLogger(__name__)


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak_lr``, then cosine decay to ``peak_lr * min_fraction``."""

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
            progress = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
            decayed = self.peak_lr * (self.min_fraction + (1.0 - self.min_fraction) * cosine)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_fraction": self.min_fraction,
            "cosine": self.cosine,
        }


def seed_everything(seed: int, *, deterministic: bool) -> None:
    """Python, numpy and TensorFlow seeds; op determinism when asked (once per process)."""
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


def _batches(x, targets, weights, *, batch_size, seed, augment_config, spec_augment):
    """Shuffled batches of (features, target rows, sample weights); SpecAugment masks drawn per batch."""
    from quantize.data.augment import spec_augment as mask_batch

    epoch = [0]

    def generate():
        rng = np.random.default_rng([seed, epoch[0]])
        epoch[0] += 1
        order = rng.permutation(len(x))
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            xb = x[index]
            if spec_augment:
                xb = mask_batch(xb, rng, augment_config)
            yield xb, targets[index], weights[index]

    spec = (
        tf.TensorSpec((None, *x.shape[1:]), tf.float32),
        tf.TensorSpec((None, targets.shape[1]), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )
    return tf.data.Dataset.from_generator(generate, output_signature=spec).prefetch(2)


def _sample_weights(y, num_classes, mode):
    """A weight per row: balanced by class, or 1; unlabelled rows (``y < 0``) weigh 1."""
    y = np.asarray(y)
    if mode == "none":
        return np.ones(len(y), np.float32)
    labelled = y[y >= 0]
    counts = np.bincount(labelled, minlength=num_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(labelled) / (num_classes * np.maximum(counts, 1)), 0.0)
    return np.where(y >= 0, per_class[np.maximum(y, 0)], 1.0).astype(np.float32)


class _EpochLog(keras.callbacks.Callback):
    """One log line per epoch and the elapsed time in the history."""

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


def _objective(recipe: Recipe, arrays: Arrays, num_classes: int):
    """Loss, accuracy metric and target rows: cross-entropy, or distillation when the
    arrays carry a teacher's softened probabilities (``quantize.train.objectives``)."""
    smoothing = recipe.train.label_smoothing
    if arrays.soft_train is None:
        return (keras.losses.CategoricalCrossentropy(), "accuracy",
                soft_targets.targets(arrays.y_train, None, num_classes, label_smoothing=smoothing),
                soft_targets.targets(arrays.y_val, None, num_classes))
    if recipe.teacher is None:
        raise ConfigError(f"{recipe.source}: the arrays carry teacher targets but the recipe has no teacher: section")
    if arrays.soft_train.shape != (len(arrays.y_train), num_classes):
        raise ConfigError(f"teacher targets have shape {arrays.soft_train.shape}; expected "
                          f"({len(arrays.y_train)}, {num_classes})")
    loss = soft_targets.DistillationLoss(num_classes, temperature=recipe.teacher.temperature, alpha=recipe.teacher.alpha)
    val_hard = soft_targets.targets(arrays.y_val, None, num_classes)
    return (loss, soft_targets.labelled_accuracy(num_classes),
            soft_targets.targets(arrays.y_train, arrays.soft_train, num_classes, label_smoothing=smoothing),
            np.concatenate([val_hard, val_hard], axis=1))


class _BestWeights(keras.callbacks.Callback):
    """The weights of the first epoch with the highest ``val_accuracy``, kept in memory: under
    MultiWorkerMirroredStrategy only the chief's checkpoint file survives, and every worker needs them."""

    def __init__(self):
        super().__init__()
        self.best, self.weights = -1.0, None

    def on_epoch_end(self, epoch, logs=None):
        accuracy = float((logs or {}).get("val_accuracy", -1.0))
        if accuracy > self.best:
            self.best, self.weights = accuracy, self.model.get_weights()


def fit(recipe: Recipe, arrays: Arrays, run_dir, *, verbose: int = 2):
    """Train ``recipe.model`` on ``arrays``; return ``(model, history dict)``.

    Writes ``checkpoints/best_weights.h5`` (best validation accuracy) and
    ``history.csv`` into ``run_dir``. The returned model always has float32
    weights and the best validation weights, ready for conversion.
    """
    cfg = recipe.train
    run_dir = pathlib.Path(run_dir)
    num_classes = len(recipe.labels)
    if len(arrays.x_train) == 0 or len(arrays.x_val) == 0:
        raise ConfigError(
            f"{recipe.source}: train on {len(arrays.x_train)} and validate on {len(arrays.x_val)} windows: "
            "both splits need examples (check data.split and the sources' roles)"
        )
    seed_everything(recipe.seed, deterministic=cfg.deterministic)
    if cfg.threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(cfg.threads)
        except RuntimeError:  # already initialised in this process
            pass
    input_shape = arrays.x_train.shape[1:]
    steps_per_epoch = math.ceil(len(arrays.x_train) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    schedule = WarmupCosine(
        cfg.lr, total_steps, int(cfg.warmup_epochs * steps_per_epoch), cfg.min_lr_fraction, cfg.schedule == "cosine"
    )
    loss, accuracy, train_targets, val_targets = _objective(recipe, arrays, num_classes)
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        with _strategy(cfg.strategy).scope():
            model = zoo.build(recipe.model.name, input_shape, num_classes, **recipe.model.params)
            clip = {"global_clipnorm": cfg.grad_clip_norm} if cfg.grad_clip_norm else {}
            if cfg.optimizer == "adamw":
                optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay, **clip)
            else:
                optimizer = keras.optimizers.Adam(schedule, **clip)
            model.compile(optimizer=optimizer, loss=loss, metrics=[accuracy], weighted_metrics=[])
    finally:
        if cfg.mixed_precision:
            keras.mixed_precision.set_global_policy("float32")

    train_ds = _batches(
        arrays.x_train,
        train_targets,
        _sample_weights(arrays.y_train, num_classes, cfg.class_weights),
        batch_size=cfg.batch_size,
        seed=recipe.seed,
        augment_config=recipe.augment_config(),
        spec_augment=cfg.spec_augment,
    )
    val_ds = tf.data.Dataset.from_tensor_slices((arrays.x_val, val_targets)).batch(256)

    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    best = _BestWeights()
    callbacks = [
        _EpochLog(),
        best,
        keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best_weights.h5"),
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    shown = progress.keras_epochs(cfg.epochs, f"epochs ({recipe.model.name})")
    if shown is not None:
        callbacks.append(shown)
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=cfg.early_stopping_patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    history = model.fit(
        train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks, verbose=verbose
    ).history
    train_time_s = time.perf_counter() - start
    # The best validation weights, set into a plain float32 twin (outside any distribution
    # strategy and mixed-precision policy) that converts cleanly to TFLite. Weights go by
    # layer order, so the twin's different auto-generated names do not matter.
    model = zoo.build(recipe.model.name, input_shape, num_classes, **recipe.model.params)
    model.set_weights(best.weights)
    history = {k: [float(v) for v in values] for k, values in history.items()}
    history["train_time_s"] = train_time_s
    history["best_epoch"] = int(np.argmax(history["val_accuracy"])) + 1
    return model, history


def train(recipe: Recipe, run_dir, *, verbose: int = 2) -> pathlib.Path:
    """Stage form: ``features.npz`` in ``run_dir`` -> ``model.keras`` and ``history.json`` there.

    ``quantize.pipeline.run`` writes the features (train / val windows), calls
    this, and exports from ``model.keras``; pass ``keep_features=True`` to the
    pipeline to re-train later on the same windows.
    """
    run_dir = pathlib.Path(run_dir)
    features = run_dir / "features.npz"
    if not features.is_file():
        raise ConfigError(f"train: {features} does not exist (run quantize.pipeline.run with keep_features=True)")
    model, history = fit(recipe, Arrays.load(features), run_dir, verbose=verbose)
    model.save(run_dir / "model.keras")
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    return run_dir

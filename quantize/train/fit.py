"""A small supervised training loop shared by the compression stages.

Each stage (pruning, clustering, quantization-aware training, a student
trained alone) fine-tunes a compiled copy of the model with Adam (cosine
learning-rate decay) on integer labels and keeps the weights of the best validation epoch, counted only from
``keep_best_from_epoch`` on (a pruning schedule must have reached its target
before a checkpoint may be kept).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tf_keras as keras

from sdk.errors import ConfigError


@dataclass(frozen=True)
class Arrays:
    """Feature windows and integer labels: train, validation and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
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


class KeepBest(keras.callbacks.Callback):
    """Restore the weights of the best ``val_accuracy`` epoch at or after ``from_epoch``."""

    def __init__(self, target=None, from_epoch: int = 0):
        super().__init__()
        self.target, self.from_epoch, self.best, self.weights, self.best_epoch = target, from_epoch, -1.0, None, None

    def on_epoch_end(self, epoch, logs=None):
        acc = float((logs or {}).get("val_accuracy", -1.0))
        if epoch >= self.from_epoch and acc > self.best:
            self.best, self.best_epoch = acc, epoch
            self.weights = (self.target or self.model).get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            (self.target or self.model).set_weights(self.weights)


def fit(model, data: Arrays, *, epochs: int, learning_rate: float = 1e-3, batch_size: int = 64, callbacks=(),
        keep_best_from_epoch: int = 0, seed: int = 0, verbose: int = 0) -> dict:
    """Compile ``model`` (softmax output, integer labels) and train it in place; return the history."""
    if epochs < 1:
        raise ConfigError(f"fit: epochs={epochs} must be >= 1")
    keras.utils.set_random_seed(seed)
    steps = epochs * -(-len(data.x_train) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(cosine(learning_rate, steps)), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    keep = KeepBest(from_epoch=min(keep_best_from_epoch, epochs - 1))
    history = model.fit(
        np.asarray(data.x_train, np.float32), np.asarray(data.y_train), batch_size=batch_size, epochs=epochs,
        validation_data=(np.asarray(data.x_val, np.float32), np.asarray(data.y_val)),
        callbacks=[*callbacks, keep], verbose=verbose, shuffle=True,
    ).history
    history["best_epoch"] = keep.best_epoch
    return history


def cosine(learning_rate: float, steps: int):
    """Cosine decay to zero over ``steps``: the last epochs settle instead of jumping between minima."""
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, int(steps)))


def accuracy(model, x, y) -> float:
    """Top-1 accuracy of a Keras model."""
    scores = model.predict(np.asarray(x, np.float32), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(scores, -1) == np.asarray(y)))

"""Inference on LiteRT (``ai-edge-litert``), XNNPACK on by default.

The engine takes float features and returns float scores whatever the model's
types: int8 / int16 inputs are quantized and outputs dequantized with the
scale and zero point the model itself declares.
"""
from __future__ import annotations

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from sdk.bundle import Bundle
from sdk.errors import ConfigError, ModelError


def quantize(values: np.ndarray, *, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Affine quantization ``round(x / scale) + zero_point``, saturated to ``dtype``."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(values, np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(values, np.float32) - np.float32(zero_point)) * np.float32(scale)


class Engine:
    """Run a model on batches of feature windows.

    Parameters
    ----------
    model : Bundle, bytes, or path to a ``.tflite`` / artifact
    threads : int
        CPU threads for LiteRT (1 is best for small models on a Pi's shared cores).
    xnnpack : bool
        Use the XNNPACK delegate (default). ``False`` runs LiteRT's built-in
        kernels, whose int8 results can differ from XNNPACK's by a few steps.
    """

    def __init__(self, model: Bundle | bytes | str | os.PathLike, *, threads: int = 1, xnnpack: bool = True):
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"Engine: threads={threads!r} must be a positive integer")
        if isinstance(model, Bundle):
            if model.streaming:
                raise ConfigError(
                    f"{model.source}: a streaming model (state inputs) runs in sdk.detector.Detector or "
                    "sdk.streaming.StreamingEngine, not on whole windows"
                )
            content, self.source = model.model, model.source
        elif isinstance(model, (bytes, bytearray)):
            content, self.source = bytes(model), "<bytes>"
        else:
            self.source = os.fspath(model)
            try:
                with open(self.source, "rb") as f:
                    content = f.read()
            except OSError as exc:
                raise ModelError(f"{self.source}: cannot read model file ({exc.strerror})") from None
        self.threads, self.xnnpack = threads, xnnpack
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._interpreter = Interpreter(
                model_content=content, num_threads=threads, experimental_op_resolver_type=resolver
            )
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.source}: LiteRT cannot load this model ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["index"])
        self.input_shape = tuple(int(d) for d in self._input["shape"])
        self._batch = self.input_shape[0]

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._interpreter.resize_tensor_input(self._input["index"], [batch, *self.input_shape[1:]])
            self._interpreter.allocate_tensors()
            self._input = self._interpreter.get_input_details()[0]
            self._outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["index"])
            self._batch = batch

    def _run(self, windows: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(windows, np.float32)
        per_window = int(np.prod(self.input_shape[1:]))
        if x.ndim == 0 or x.shape[0] == 0 or x[0].size != per_window:
            raise ConfigError(
                f"{self.source}: windows of shape {x.shape} do not match the model input "
                f"{list(self.input_shape[1:])} ({per_window} values per window)"
            )
        batch = x.shape[0]
        x = x.reshape(batch, *self.input_shape[1:])
        self._resize(batch)
        if np.issubdtype(self.input_dtype, np.integer):
            scale, zero = self._input["quantization"]
            x = quantize(x, scale=scale, zero_point=zero, dtype=self.input_dtype)
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        results = []
        for out in self._outputs:
            y = self._interpreter.get_tensor(out["index"])
            if np.issubdtype(y.dtype, np.integer):
                scale, zero = out["quantization"]
                y = dequantize(y, scale=scale, zero_point=zero)
            results.append(np.asarray(y, np.float32).reshape(batch, -1))
        return results

    def predict_all(self, window: np.ndarray) -> list[np.ndarray]:
        """Scores of every output head for one window.

        ``window`` holds one model input's values in any shape, e.g.
        ``(frames, features)``. Returns one float32 ``(classes,)`` array per head.
        """
        return [y[0] for y in self._run(np.asarray(window, np.float32)[None])]

    def predict(self, window: np.ndarray) -> np.ndarray:
        """Scores of the first (or only) head for one window, ``(classes,)``."""
        return self.predict_all(window)[0]

    def predict_batch(self, windows: np.ndarray, *, max_batch: int = 256) -> list[np.ndarray]:
        """Scores of every head for a batch ``(batch, ...)``: one ``(batch, classes)`` array per head.

        Runs at most ``max_batch`` windows per invoke, so a test set or an
        hour-long file does not resize the interpreter to its whole length.
        """
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"Engine.predict_batch: max_batch={max_batch!r} must be a positive integer")
        windows = np.asarray(windows, np.float32)
        parts = [self._run(windows[i : i + max_batch]) for i in range(0, max(len(windows), 1), max_batch)]
        return [np.concatenate([part[head] for part in parts]) for head in range(len(parts[0]))]

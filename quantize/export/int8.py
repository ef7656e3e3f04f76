"""Keras model -> TFLite bytes: float32, float16, and full-integer int8.

The int8 calibration data are feature windows from the same front end the
model was trained on, so the input scale covers the real feature range.
"""
from __future__ import annotations

import numpy as np

import quantize  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf

from sdk.errors import ConfigError

MODES = ("float32", "float16", "int8", "int16x8")


def to_tflite(model, *, mode: str = "int8", calibration: np.ndarray | None = None, max_calibration: int = 500) -> bytes:
    """Convert a Keras model.

    Parameters
    ----------
    model : tf_keras.Model
    mode : {"float32", "float16", "int8", "int16x8"}
        ``int8``: weights and activations int8, int8 input and output.
        ``int16x8``: int16 activations, int8 weights (more accurate, larger).
    calibration : np.ndarray, shape ``(n, *model.input_shape[1:])``
        Representative inputs, required for ``int8`` and ``int16x8``.
    """
    if mode not in MODES:
        raise ConfigError(f"to_tflite: mode={mode!r} must be one of {MODES}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode in ("int8", "int16x8"):
        if calibration is None or len(calibration) == 0:
            raise ConfigError(f"to_tflite: mode={mode!r} needs calibration windows")
        sample = np.asarray(calibration, np.float32)[:max_calibration]

        def representative():
            for window in sample:
                yield [window[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if mode == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        else:
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16
    return bytes(converter.convert())


def tensor_types(tflite_model: bytes) -> dict:
    """``{tensor name: type name}`` for every tensor of the main subgraph.

    A fully int8 model has only ``int8`` tensors, plus ``int32`` ones for
    biases and shape arithmetic; any ``float32`` one means a float op is left.
    """
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = schema.ModelT.InitFromPackedBuf(bytearray(tflite_model), 0).subgraphs[0]
    return {
        (t.name.decode() if isinstance(t.name, bytes) else str(t.name)): names.get(t.type, str(t.type))
        for t in graph.tensors
    }

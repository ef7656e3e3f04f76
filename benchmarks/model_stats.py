"""What a .tflite file costs: bytes, parameters, and per-inference latency.

Latency runs on LiteRT with XNNPACK through ``sdk.engine.Engine`` (as a device
runs Auricle's models), or on the TFLite Micro Python interpreter. Models are
timed in interleaved rounds so that load from other processes on a shared
machine falls on every model alike, and a ratio between models stays fair.
"""
from __future__ import annotations

import hashlib

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from sdk.bundle import METADATA_NAME, strip_metadata
from sdk.errors import ModelError

_WEIGHT_OPS = {
    schema.BuiltinOperator.CONV_2D: 2,  # input index of the (int32) bias
    schema.BuiltinOperator.DEPTHWISE_CONV_2D: 2,
    schema.BuiltinOperator.FULLY_CONNECTED: 2,
    schema.BuiltinOperator.TRANSPOSE_CONV: 3,
}
_WEIGHT_TYPES = {
    schema.TensorType.FLOAT32, schema.TensorType.FLOAT16, schema.TensorType.INT8,
    schema.TensorType.UINT8, schema.TensorType.INT16, getattr(schema.TensorType, "INT4", -1),
}


def _model(data: bytes, source: str):
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{source}: not a TFLite model (no 'TFL3' identifier)")
    try:
        return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # flatbuffers reports corruption as struct/Index errors
        raise ModelError(f"{source}: TFLite model is truncated or corrupted ({exc})") from None


def parameter_count(data: bytes, *, source: str = "<bytes>") -> int:
    """Learned values in the model: constant weight tensors and layer biases.

    Counts every constant float/int8/int16 tensor, plus int32 constants that
    are the bias of a convolution or fully connected layer; shape and axis
    constants (int32 operands of RESHAPE, PAD, ...) are not parameters.
    """
    model = _model(data, source)
    counted = set()
    total = 0
    for graph in model.subgraphs:
        biases = set()
        for op in graph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            bias_index = _WEIGHT_OPS.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if bias_index is not None and op.inputs is not None and len(op.inputs) > bias_index:
                biases.add(int(op.inputs[bias_index]))
        for index, tensor in enumerate(graph.tensors or []):
            buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
            if buffer is None or buffer.data is None or len(buffer.data) == 0 or tensor.buffer in counted:
                continue
            if tensor.type in _WEIGHT_TYPES or (tensor.type == schema.TensorType.INT32 and index in biases):
                counted.add(tensor.buffer)
                total += int(np.prod(tensor.shape)) if tensor.shape is not None else 0
    return total


def metadata_bytes(data: bytes, *, source: str = "<bytes>") -> int:
    """Bytes of Auricle's JSON metadata inside the file (0 for a plain .tflite)."""
    model = _model(data, source)
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_NAME:
            return len(model.buffers[entry.buffer].data)
    return 0


def size_report(data: bytes, *, source: str = "<bytes>") -> dict:
    """``file_bytes``; ``model_bytes``: the flatbuffer without Auricle's metadata
    (``sdk.bundle.strip_metadata``: what a device without Auricle would load); ``parameters``."""
    meta = metadata_bytes(data, source=source)
    return {
        "file_bytes": len(data),
        "metadata_bytes": meta,
        "model_bytes": len(strip_metadata(data, source=source)) if meta else len(data),
        "parameters": parameter_count(data, source=source),
    }


def litert_invoke(model: bytes, window: np.ndarray, *, threads: int = 1):
    """A callable that runs one inference of ``model`` on ``window`` (float values, any shape).

    The interpreter is made as ``sdk.engine.Engine`` makes it (XNNPACK on, the
    given threads); the window is quantized and set once, so a call times
    ``invoke`` alone: the model's own cost, without Python-side conversion.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from sdk.engine import quantize

    interpreter = Interpreter(model_content=bytes(model), num_threads=threads,
                              experimental_op_resolver_type=OpResolverType.AUTO)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    x = np.asarray(window, np.float32).reshape(details["shape"])
    if np.issubdtype(details["dtype"], np.integer):
        scale, zero = details["quantization"]
        x = quantize(x, scale=scale, zero_point=zero, dtype=details["dtype"])
    interpreter.set_tensor(details["index"], x)
    return interpreter.invoke


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

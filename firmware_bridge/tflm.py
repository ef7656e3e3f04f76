"""TFLite Micro facts about a model: its ops, whether TFLM has them, and its arena.

Everything here is read from the flatbuffer or measured under the real TFLM
interpreter (the ``tflite-micro`` wheel), never guessed: the op list comes from
the model's operator codes, and the tensor arena is the smallest size with
which TFLM allocates and invokes the model.
"""
from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from sdk.errors import ModelError

_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

# Builtin ops with a kernel in TFLite Micro, read from the Register_* symbols of
# tflite-micro 0.dev20261023182759 (python/tflite_micro/_runtime.so). A test
# checks this set against the installed wheel, so an upgrade that adds or
# drops kernels fails loudly instead of silently exporting a model TFLM refuses.
TFLM_BUILTINS = frozenset({
    "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D", "BATCH_MATMUL",
    "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST", "CEIL", "CONCATENATION",
    "CONV_2D", "COS", "CUMSUM", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "DIV",
    "DYNAMIC_UPDATE_SLICE", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP", "EXPAND_DIMS", "FILL", "FLOOR",
    "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER", "GREATER_EQUAL",
    "HARD_SWISH", "IF", "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
    "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "LOG_SOFTMAX", "MAXIMUM", "MAX_POOL_2D", "MEAN",
    "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE",
    "READ_VARIABLE", "REDUCE_ALL", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "REVERSE_V2", "ROUND", "RSQRT", "SELECT_V2", "SHAPE", "SIN", "SLICE",
    "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
})

# MicroMutableOpResolver method names that the CamelCase rule gets wrong (a test
# checks every name against TFLM's own micro_mutable_op_resolver.h).
_RESOLVER_METHOD_EXCEPTIONS = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def resolver_method(op_name: str) -> str:
    """``CONV_2D`` -> ``AddConv2D``: the MicroMutableOpResolver call that registers an op."""
    if op_name in _RESOLVER_METHOD_EXCEPTIONS:
        return _RESOLVER_METHOD_EXCEPTIONS[op_name]
    parts = [part.upper() if part in ("2D", "3D") else part[:1].upper() + part[1:].lower() for part in op_name.split("_")]
    return "Add" + "".join(parts)


# TFLM's int8 softmax needs beta * input_scale * 2**26 > 1 (PreprocessSoftmaxScaling,
# kScaledDiffIntegerBits = 5); below that TFLITE_CHECK aborts the process on the device
# and in the Python interpreter alike.
SOFTMAX_MIN_INPUT_SCALE_X_BETA = 2.0 ** -26


def check_quantization(model: bytes, source: str = "model") -> None:
    """Raise ModelError for quantization TFLM's kernels abort on instead of refusing (int8 softmax)."""
    parsed = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in parsed.operatorCodes or []]
    for graph in parsed.subgraphs or []:
        for op in graph.operators or []:
            if codes[op.opcodeIndex] != schema.BuiltinOperator.SOFTMAX:
                continue
            tensor = graph.tensors[op.inputs[0]]
            scales = tensor.quantization.scale if tensor.quantization is not None else None
            beta = op.builtinOptions.beta if op.builtinOptions is not None else 1.0
            if tensor.type == schema.TensorType.INT8 and scales is not None and len(scales):
                if float(scales[0]) * beta <= SOFTMAX_MIN_INPUT_SCALE_X_BETA:
                    raise ModelError(
                        f"{source}: the int8 SOFTMAX input scale {float(scales[0]):.3g} (beta {beta:g}) is at or below "
                        f"2**-26 = {SOFTMAX_MIN_INPUT_SCALE_X_BETA:.3g}, on which TFLite Micro aborts; the logits span "
                        "almost nothing (an untrained or collapsed model): train or recalibrate it before exporting"
                    )


def model_ops(model: bytes, source: str = "model") -> list[str]:
    """Names of the distinct ops the model's operators really use, in operator-code order.

    Custom ops come back as ``CUSTOM:<name>``. Operator codes that no operator
    refers to (the converter sometimes leaves them) are left out.
    """
    try:
        parsed = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    except Exception as exc:  # flatbuffers reports damage as struct/Index errors
        raise ModelError(f"{source}: TFLite model is truncated or corrupted ({type(exc).__name__}: {exc})") from None
    used = {op.opcodeIndex for graph in parsed.subgraphs or [] for op in graph.operators or []}
    names = []
    for index, code in enumerate(parsed.operatorCodes or []):
        if index not in used:
            continue
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = _BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            name = f"CUSTOM:{custom}"
        if name not in names:
            names.append(name)
    return names


def check_supported(ops: list[str], source: str = "model") -> None:
    """Raise ModelError naming every op that TFLite Micro has no kernel for."""
    missing = [op for op in ops if op not in TFLM_BUILTINS]
    if missing:
        raise ModelError(
            f"{source}: TFLite Micro has no kernel for op(s) {', '.join(missing)}; "
            "rebuild the model without them (e.g. relu instead of gelu) before exporting for a microcontroller"
        )


@contextlib.contextmanager
def captured_native_output():
    """Collect what TFLM's C++ code prints to fds 1 and 2 (it bypasses sys.stdout)."""
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        lines: list[str] = []
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            lines.extend(line for line in sink.read().decode(errors="replace").splitlines() if line.strip())


class MicroInterpreter:
    """The TFLM Python interpreter on one model, with a fixed arena, quiet unless it fails."""

    def __init__(self, model: bytes, *, arena_bytes: int, source: str = "model"):
        from tflite_micro.python.tflite_micro import runtime

        self.source, self.arena_bytes = source, arena_bytes
        with captured_native_output() as log:
            try:
                self._interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(arena_bytes))
                error = None
            except (RuntimeError, ValueError) as exc:
                error = exc
        if error is not None:
            raise ModelError(f"{source}: TFLite Micro cannot load the model with a {arena_bytes}-byte arena "
                             f"({error}; {' / '.join(log[-3:])})")
        self.input = self._interpreter.get_input_details(0)
        self.output = self._interpreter.get_output_details(0)

    def invoke(self, window: np.ndarray) -> np.ndarray:
        """Run one already-quantized input window; returns the raw output tensor."""
        shape = tuple(int(d) for d in self.input["shape"])
        x = np.asarray(window).astype(self.input["dtype"]).reshape(shape)
        with captured_native_output() as log:
            try:
                self._interpreter.set_input(x, 0)
                self._interpreter.invoke()
                error = None
            except (RuntimeError, ValueError) as exc:
                error = exc
        if error is not None:
            raise ModelError(f"{self.source}: TFLite Micro failed to invoke the model ({error}; {' / '.join(log[-3:])})")
        return np.array(self._interpreter.get_output(0))


def arena_works(model: bytes, arena_bytes: int) -> bool:
    """Whether TFLM allocates and invokes the model in this arena (may crash the process: see arena.py)."""
    try:
        interpreter = MicroInterpreter(model, arena_bytes=arena_bytes)
        interpreter.invoke(np.zeros(tuple(int(d) for d in interpreter.input["shape"]), interpreter.input["dtype"]))
        return True
    except ModelError:
        return False


def measure_arena(model: bytes, *, source: str = "model", limit_bytes: int = 64 << 20) -> int:
    """Smallest working arena, probed in child processes (``firmware_bridge.arena.measure_arena``)."""
    from firmware_bridge.arena import measure_arena as measure

    return measure(model, source=source, limit_bytes=limit_bytes)

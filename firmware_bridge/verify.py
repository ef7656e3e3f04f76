"""The check behind every export: TFLite Micro must compute what LiteRT computes.

``verify(bundle, inputs)`` quantizes float feature windows once with the
model's own input scale and zero point, runs the exported bytes under the TFLM
Python interpreter and the artifact under ``sdk.engine.Engine`` (LiteRT, with
its reference kernels and with XNNPACK), and reports the largest difference in
output quantization steps, the arena and the flash the model needs.
"""
from __future__ import annotations

import numpy as np

from firmware_bridge.tflm import MicroInterpreter, measure_arena, model_ops
from sdk.bundle import Bundle
from sdk.engine import Engine, dequantize, quantize
from sdk.errors import ConfigError

# Flash for the TFLM runtime is not known at export time; these are stated
# assumptions, reported as such: the TFLM README's "core runtime fits in 16 KB on
# an Arm Cortex M3", and ~4 KB per reference kernel. The real Cortex-M4 build
# (benchmarks/results/fw_mcu.json) measures ~130-300 KB of .text + .rodata with
# newlib and the front end, so this estimate is low; budgets should leave room.
RUNTIME_CORE_ESTIMATE_BYTES = 16 * 1024
KERNEL_ESTIMATE_BYTES = 4 * 1024


def default_inputs(bundle: Bundle, count: int = 20, seed: int = 0) -> np.ndarray:
    """Random float windows spread over the input's quantized range, ``(count, *input_shape[1:])``."""
    inp = bundle.inputs[0]
    rng = np.random.default_rng(seed)
    shape = (count, *inp.shape[1:])
    if inp.quantized:
        info = np.iinfo(inp.dtype)
        low, high = (info.min - inp.zero_point) * inp.scale, (info.max - inp.zero_point) * inp.scale
        return rng.uniform(low, high, shape).astype(np.float32)
    return rng.normal(-6.0, 3.0, shape).astype(np.float32)


def flash_bytes(bundle: Bundle, model: bytes, ops: list[str]) -> dict:
    """Flash the model needs: the array (measured) and the runtime (estimated, see constants)."""
    labels = bundle.labels
    config_bytes = sum(len(label.encode()) + 1 for label in labels) + len(labels) * (4 + 4 + 1)  # strings, ptrs, thresholds, flags
    runtime = RUNTIME_CORE_ESTIMATE_BYTES + KERNEL_ESTIMATE_BYTES * len(ops)
    return {
        "model_array_bytes": len(model),
        "config_bytes": config_bytes,
        "runtime_code_estimate_bytes": runtime,
        "total_estimate_bytes": len(model) + config_bytes + runtime,
        "estimate_basis": f"{RUNTIME_CORE_ESTIMATE_BYTES} B TFLM core + {KERNEL_ESTIMATE_BYTES} B per op (assumed, not measured)",
    }


def verify(bundle: Bundle, inputs: np.ndarray, *, model: bytes | None = None, arena_bytes: int | None = None) -> dict:
    """Run ``model`` (default: the bundle's bytes without metadata) under TFLM and LiteRT; compare.

    Parameters
    ----------
    bundle : Bundle
        The artifact; LiteRT runs its bytes.
    inputs : np.ndarray, shape ``(n, *model_input_shape[1:])`` or ``(n, frames, features)``
        Float feature windows (``sdk.frontend.features`` of real audio, ideally).
    model : bytes, optional
        The exported flatbuffer TFLM runs (e.g. with metadata stripped).
    arena_bytes : int, optional
        TFLM arena; default the measured minimum.

    Returns
    -------
    dict with ``max_diff_steps`` (largest |TFLM - LiteRT| in output quantization
    steps, reference kernels), ``max_diff_steps_xnnpack``, ``max_abs_diff``,
    ``windows``, ``arena_bytes``, ``flash``.
    """
    from sdk.bundle import strip_metadata

    model = strip_metadata(bundle.model, source=bundle.source) if model is None else model
    inp, out = bundle.inputs[0], bundle.outputs[0]
    per_window = int(np.prod(inp.shape[1:]))
    windows = np.asarray(inputs, np.float32)
    if windows.ndim < 2 or windows.shape[0] == 0 or windows[0].size != per_window:
        raise ConfigError(
            f"verify: inputs of shape {windows.shape} do not match the model input {list(inp.shape)} "
            f"({per_window} values per window)"
        )
    windows = windows.reshape(windows.shape[0], *inp.shape[1:])
    if inp.quantized:
        quantized = quantize(windows, scale=inp.scale, zero_point=inp.zero_point, dtype=np.dtype(inp.dtype))
        # Engine quantizes floats itself; these dequantized values map back to exactly `quantized`.
        engine_inputs = dequantize(quantized, scale=inp.scale, zero_point=inp.zero_point)
    else:
        quantized = engine_inputs = windows

    arena_bytes = measure_arena(model, source=bundle.source) if arena_bytes is None else arena_bytes
    micro = MicroInterpreter(model, arena_bytes=arena_bytes, source=bundle.source)
    tflm = np.stack([micro.invoke(window).reshape(-1) for window in quantized])

    def steps(values: np.ndarray) -> np.ndarray:
        if out.quantized:  # back to the integer the model wrote: exact, as Engine only dequantized it
            return np.round(values / np.float32(out.scale)) + out.zero_point
        return values

    tflm_steps = tflm.astype(np.float64) if out.quantized else tflm
    tflm_real = dequantize(tflm, scale=out.scale, zero_point=out.zero_point) if out.quantized else tflm
    report = {"windows": int(windows.shape[0]), "arena_bytes": int(arena_bytes)}
    for key, xnnpack in (("", False), ("_xnnpack", True)):
        litert = Engine(bundle, xnnpack=xnnpack).predict_batch(engine_inputs)[0]
        diff = np.abs(tflm_steps - steps(litert))
        report[f"max_diff_steps{key}"] = float(diff.max()) if out.quantized else None
        report[f"max_abs_diff{key}"] = float(np.abs(tflm_real - litert).max())
    report["output_quantized"] = out.quantized
    report["flash"] = flash_bytes(bundle, model, model_ops(model, bundle.source))
    return report

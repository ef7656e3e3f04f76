"""The smallest tensor arena TFLite Micro runs a model with, measured without risking the process.

TFLM's Python interpreter does not always fail cleanly on an arena that is too
small: for BC-ResNet and the DS-CNN models a 16 KiB arena ends in a
segmentation fault, not an error. So every probe runs in a child process
(``python -m firmware_bridge.arena``), which prints each size it tries and
what happened; a child that dies mid-probe marks that size as failing, and a
fresh child carries on the search from what is known. The search starts
above a lower bound read from the model itself (its largest non-constant
tensor must fit in the arena), so small, crash-prone probes are rarely tried.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from sdk.errors import ModelError

# TensorType -> bytes per element (types an arena tensor can have).
_ELEMENT_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 11: 16, 12: 8, 15: 2, 16: 4, 17: 1}
MAX_CHILD_CRASHES = 8


def largest_activation_bytes(model: bytes) -> int:
    """Bytes of the largest tensor with no constant data: the arena must hold at least this."""
    parsed = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    buffers = parsed.buffers or []
    largest = 0
    for graph in parsed.subgraphs or []:
        for tensor in graph.tensors or []:
            buffer = buffers[tensor.buffer] if 0 <= tensor.buffer < len(buffers) else None
            if buffer is not None and (buffer.data is not None and len(buffer.data) or buffer.size):
                continue  # constant: read from flash, not the arena
            shape = [max(1, int(d)) for d in (tensor.shape if tensor.shape is not None else [])]
            largest = max(largest, int(np.prod(shape)) * _ELEMENT_BYTES.get(tensor.type, 4))
    return largest


def _child_env() -> dict:
    """The child imports this same firmware_bridge (a checkout may shadow an installed copy)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}


def _search(model: bytes, low: int, high: int | None, limit_bytes: int) -> None:
    """Child side: binary search, printing ``try N`` before and ``ok N`` / ``fail N`` after each probe."""
    from firmware_bridge.tflm import MicroInterpreter

    reason = ""

    def probe(size: int) -> bool:
        nonlocal reason
        print(f"try {size}", flush=True)
        try:
            interpreter = MicroInterpreter(model, arena_bytes=size)
            interpreter.invoke(np.zeros(tuple(int(d) for d in interpreter.input["shape"]), interpreter.input["dtype"]))
            works = True
        except ModelError as exc:
            works, reason = False, str(exc).replace("\n", " ")
        print(f"{'ok' if works else 'fail'} {size}", flush=True)
        return works

    if high is None:
        high = max(4096, 2 * low)
        while not probe(high):
            high *= 2
            if high > limit_bytes:
                print(f"limit {reason}", flush=True)
                return
    while high - low > 1:
        middle = (low + high) // 2
        if probe(middle):
            high = middle
        else:
            low = middle
    print(f"done {high}", flush=True)


def measure_arena(model: bytes, *, source: str = "model", limit_bytes: int = 64 << 20) -> int:
    """Smallest tensor arena (bytes) with which TFLM allocates and invokes the model.

    Binary search over whole bytes, each probe a fresh interpreter in a child
    process. The Python interpreter records its allocations
    (RecordingMicroAllocator), so on a 64-bit host this is a little above what
    a 32-bit microcontroller needs: the margin in ``export`` covers the rest,
    and the firmware build reports what the real ``MicroInterpreter`` used.
    """
    low = max(0, largest_activation_bytes(model) - 1)  # known to fail without a probe
    high: int | None = None
    with tempfile.TemporaryDirectory(prefix="auricle-arena-") as folder:
        path = os.path.join(folder, "model.tflite")
        with open(path, "wb") as handle:
            handle.write(model)
        for _ in range(MAX_CHILD_CRASHES):
            command = [sys.executable, "-m", "firmware_bridge.arena", path, str(low),
                       "none" if high is None else str(high), str(limit_bytes)]
            child = subprocess.run(command, capture_output=True, text=True, env=_child_env())
            trying = None
            for line in child.stdout.splitlines():
                word, _, value = line.partition(" ")
                if word == "try":
                    trying = int(value)
                elif word == "ok":
                    high, trying = int(value), None
                elif word == "fail":
                    low, trying = max(low, int(value)), None
                elif word == "done":
                    return int(value)
                elif word == "limit":
                    raise ModelError(f"{source}: TFLite Micro refuses the model with every arena up to {limit_bytes} "
                                     f"bytes; the last refusal: {value.removeprefix('model: ')}")
            if trying is None:  # died outside a probe: not an arena question
                raise ModelError(f"{source}: the TFLite Micro arena probe failed (exit {child.returncode}): "
                                 f"{child.stderr.strip()[-500:]}")
            low = max(low, trying)  # the probe crashed the child: that size does not work
            if high is not None and high - low <= 1:
                return high
    raise ModelError(f"{source}: TFLite Micro crashed on {MAX_CHILD_CRASHES} arena probes; last tried {low} bytes")


if __name__ == "__main__":
    _path, _low, _high, _limit = sys.argv[1:5]
    with open(_path, "rb") as _handle:
        _search(_handle.read(), int(_low), None if _high == "none" else int(_high), int(_limit))

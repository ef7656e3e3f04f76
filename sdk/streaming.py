"""Running streaming-aware models (made by ``quantize.export.streaming``): state carried between steps.

A streaming model takes ``frames_per_step`` new feature frames plus its state
tensors, and returns the scores of the window ending at the newest frame plus
the next state. ``StreamingEngine`` holds the state: raw when a state output and
its input share type and quantization, else through float (re-quantized) and
``StreamingScorer`` plugs it into the Detector in place of the window ring.
"""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from sdk.bundle import Bundle
from sdk.engine import dequantize, quantize
from sdk.errors import ConfigError, ModelError


class StreamingEngine:
    """Step a streaming model: ``step(frames) -> scores``; ``reset()`` zeroes the state."""

    def __init__(self, bundle: Bundle, *, threads: int = 1, xnnpack: bool = True):
        if not bundle.streaming:
            raise ConfigError(f"{bundle.source}: not a streaming model (no 'streaming' metadata)")
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"StreamingEngine: threads={threads!r} must be a positive integer")
        spec = bundle.streaming
        self.source = bundle.source
        self.frames_per_step = int(spec["frames_per_step"])
        self._frames_name, self._scores_name = spec["frames_input"], spec["scores_output"]
        self._pairs = [(s["input"], s["output"]) for s in spec["states"]]
        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self._interpreter = Interpreter(model_content=bundle.model, num_threads=threads,
                                            experimental_op_resolver_type=resolver)
            self._interpreter.allocate_tensors()
            runner = self._interpreter.get_signature_runner()
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
            del runner  # only its name -> tensor index maps are needed
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self.source}: LiteRT cannot load this streaming model ({exc})") from None
        # Tensor indices once; each step is then set_tensor / invoke / get_tensor, no signature lookups.
        self._frames = inputs[self._frames_name]
        self._scores = outputs[self._scores_name]
        self._states = []  # (input detail, output detail, carry raw values?)
        for state_in, state_out in self._pairs:
            a, b = inputs[state_in], outputs[state_out]
            same = np.dtype(a["dtype"]) == np.dtype(b["dtype"]) and (
                not np.issubdtype(np.dtype(a["dtype"]), np.integer) or a["quantization"] == b["quantization"])
            self._states.append((a, b, same))
        self.num_features = bundle.frontend.num_features
        self.reset()

    def reset(self) -> None:
        """Zero state, as the converter's model assumes before the first frame."""
        self._values = [_encode(a, np.zeros(a["shape"], np.float32)) for a, _, _ in self._states]

    def step(self, frames: np.ndarray) -> np.ndarray:
        """Scores ``(classes,)`` after ``frames_per_step`` new frames ``(frames_per_step, features)``."""
        frames = np.asarray(frames, np.float32)
        if frames.shape != (self.frames_per_step, self.num_features):
            raise ConfigError(f"{self.source}: a step takes frames of shape "
                              f"({self.frames_per_step}, {self.num_features}), got {frames.shape}")
        interpreter = self._interpreter
        interpreter.set_tensor(self._frames["index"], _encode(self._frames, frames))
        for (a, _, _), value in zip(self._states, self._values):
            interpreter.set_tensor(a["index"], value)
        interpreter.invoke()
        self._values = [
            interpreter.get_tensor(b["index"]) if same else _encode(a, _decode(b, interpreter.get_tensor(b["index"])))
            for a, b, same in self._states
        ]
        return _decode(self._scores, interpreter.get_tensor(self._scores["index"])).reshape(-1)


def _encode(detail: dict, values: np.ndarray) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    values = np.asarray(values, np.float32).reshape(detail["shape"])
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        return quantize(values, scale=scale, zero_point=zero, dtype=dtype)
    return values


def _decode(detail: dict, values: np.ndarray) -> np.ndarray:
    if np.issubdtype(values.dtype, np.integer):
        scale, zero = detail["quantization"]
        return dequantize(values, scale=scale, zero_point=zero)
    return np.asarray(values, np.float32)


class StreamingScorer:
    """The Detector's scorer for streaming models: every frame goes through the model once.

    Scores are ready at multiples of ``frames_per_step`` frames; the first
    after at least ``clip_frames`` frames (then they equal the whole-window
    model's on the last ``clip_frames`` frames).
    """

    skippable = False  # the state must see every frame, so a voice gate cannot skip steps
    streaming = True

    def __init__(self, bundle: Bundle, engine: StreamingEngine):
        self.engine = engine
        step = engine.frames_per_step
        self.first_frames = -(-bundle.frontend.clip_frames // step) * step
        self.frames_per_step = step
        self._pending = np.zeros((0, bundle.frontend.num_features), np.float32)
        self._scores = None

    def push(self, frames: np.ndarray) -> None:
        buffered = np.concatenate([self._pending, frames]) if self._pending.shape[0] else frames
        step = self.frames_per_step
        usable = buffered.shape[0] - buffered.shape[0] % step
        for start in range(0, usable, step):
            self._scores = self.engine.step(buffered[start : start + step])
        self._pending = buffered[usable:].copy()

    def score(self) -> np.ndarray:
        if self._scores is None or self._pending.shape[0]:
            raise ConfigError("StreamingScorer: scores asked between steps (hop not a multiple of frames_per_step)")
        return self._scores

    def reset(self) -> None:
        self.engine.reset()
        self._pending = self._pending[:0]
        self._scores = None

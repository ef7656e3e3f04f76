"""Voice-activity gates that let a Detector skip inference on silence.

A gate frames the model-rate audio exactly as the front end does (window and
hop from ``FrontEndConfig``), so it returns one activity flag per feature
frame, whatever the block sizes. The Detector runs the model only when some
frame in its window is active.
"""
from __future__ import annotations

import numpy as np

from sdk.errors import ConfigError
from sdk.frontend import FrontEndConfig


class _Framer:
    """Frames of ``window`` samples every ``hop`` samples, across pushes."""

    def __init__(self, window: int, hop: int):
        self.window, self.hop = window, hop
        self._pending = np.zeros(0, np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        buffered = np.concatenate([self._pending, samples]) if self._pending.size else samples
        if buffered.shape[0] < self.window:
            self._pending = buffered.copy()
            return np.zeros((0, self.window), np.float32)
        count = 1 + (buffered.shape[0] - self.window) // self.hop
        frames = np.lib.stride_tricks.sliding_window_view(buffered, self.window)[:: self.hop][:count]
        self._pending = buffered[count * self.hop :].copy()
        return frames

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)


class EnergyGate:
    """Active when a frame's RMS level is at least ``threshold_db`` dBFS (full scale sine = -3 dB)."""

    name = "energy"

    def __init__(self, frontend: FrontEndConfig, *, threshold_db: float = -50.0):
        if not -120.0 <= threshold_db <= 0.0:
            raise ConfigError(f"EnergyGate: threshold_db={threshold_db!r} must be between -120 and 0 dBFS")
        self.threshold_db = threshold_db
        self._framer = _Framer(frontend.window_samples, frontend.hop_samples)
        self._threshold_power = 10.0 ** (threshold_db / 10.0)

    def push(self, samples: np.ndarray) -> np.ndarray:
        frames = self._framer.push(samples)
        return np.mean(np.square(frames, dtype=np.float64), axis=1) >= self._threshold_power

    def reset(self) -> None:
        self._framer.reset()


class WebRtcGate:
    """WebRTC's voice detector (``webrtcvad``) on the leading 10/20/30 ms of each frame."""

    name = "webrtc"
    RATES = (8000, 16000, 32000, 48000)

    def __init__(self, frontend: FrontEndConfig, *, aggressiveness: int = 2):
        try:
            import webrtcvad
        except ImportError as exc:
            raise ConfigError(f"vad='webrtc' needs webrtcvad (pip install 'auricle[mic]'): {exc}") from None
        if frontend.sample_rate not in self.RATES:
            raise ConfigError(
                f"vad='webrtc' works at {self.RATES} Hz; the model runs at {frontend.sample_rate} Hz (use vad='energy')"
            )
        if aggressiveness not in (0, 1, 2, 3):
            raise ConfigError(f"WebRtcGate: aggressiveness={aggressiveness!r} must be 0, 1, 2 or 3")
        usable = [ms for ms in (30, 20, 10) if ms <= frontend.window_ms]
        if not usable:
            raise ConfigError(f"vad='webrtc' needs frames of at least 10 ms; window_ms={frontend.window_ms}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._rate = frontend.sample_rate
        self._chunk = frontend.sample_rate * usable[0] // 1000
        self._framer = _Framer(frontend.window_samples, frontend.hop_samples)

    def push(self, samples: np.ndarray) -> np.ndarray:
        frames = self._framer.push(samples)
        pcm = (np.clip(frames[:, : self._chunk], -1.0, 1.0) * 32767.0).astype(np.int16)
        return np.array([self._vad.is_speech(row.tobytes(), self._rate) for row in pcm], bool)

    def reset(self) -> None:
        self._framer.reset()


def make_gate(kind: str | None, frontend: FrontEndConfig):
    """``None`` (no gate), ``"energy"`` or ``"webrtc"``."""
    if kind is None:
        return None
    if kind == "energy":
        return EnergyGate(frontend)
    if kind == "webrtc":
        return WebRtcGate(frontend)
    raise ConfigError(f"vad={kind!r} must be None, 'energy' or 'webrtc'")

"""The one front end: log-mel and MFCC features, whole-clip and streaming.

Training (``quantize``) and every runtime compute features with this module, or
are held to it by a test, because a front-end mismatch is the most common way a
keyword spotter fails in the field. The parameters live in ``FrontEndConfig``,
which every model artifact carries.

Framing is "valid" (no padding): a clip of ``n`` samples gives
``1 + (n - window) // hop`` frames, and frame ``i`` covers samples
``[i * hop, i * hop + window)``. Streaming keeps the samples not yet framed, so
pushing a clip in any block sizes yields the same frames as one call.

``kind: speech_embedding`` is the other front end: each frame is one 96-value
embedding of Google's speech model (``sdk.speech_embedding``) over 790 ms of
audio, every 80 ms. Artifacts made on it (a wake-word head for a Raspberry Pi
class host) need ``pyopen-wakeword`` at run time; the log-mel front end needs
nothing but numpy.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import numpy as np

from sdk.errors import ConfigError

KIND_EMBEDDING = "speech_embedding"
KINDS = ("log_mel", KIND_EMBEDDING)  # log_mel covers MFCC too (n_mfcc > 0)


@dataclass(frozen=True)
class FrontEndConfig:
    """Every number that defines the features; stored in each model artifact.

    Features are ``log(mel_power + log_floor)`` with power spectra of
    Hann-windowed frames, on an HTK mel scale between ``fmin_hz`` and
    ``fmax_hz``. With ``n_mfcc > 0`` they are the first ``n_mfcc``
    coefficients of an orthonormal DCT-II of those log-mel values.

    ``kind="speech_embedding"`` (``FrontEndConfig.speech_embedding(clip_s)``)
    fixes the rate, window and hop to the embedding model's; the mel fields
    are then unused.
    """

    sample_rate: int = 16000
    window_ms: float = 30.0
    hop_ms: float = 20.0
    n_fft: int = 512
    n_mels: int = 40
    fmin_hz: float = 20.0
    fmax_hz: float = 7600.0
    log_floor: float = 1e-6
    n_mfcc: int = 0
    clip_s: float = 1.0
    kind: str = "log_mel"

    @classmethod
    def speech_embedding(cls, clip_s: float) -> "FrontEndConfig":
        """The speech-embedding front end with windows of ``clip_s`` seconds."""
        return cls(**_embedding_geometry(), clip_s=clip_s, kind=KIND_EMBEDDING)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"front end: kind={self.kind!r} must be one of {list(KINDS)}")
        if self.kind == KIND_EMBEDDING:
            self._check_embedding()
            return
        positive = ("sample_rate", "window_ms", "hop_ms", "n_fft", "n_mels", "log_floor", "clip_s")
        for name in positive:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"front end: {name}={value!r} must be positive")
        if self.window_samples > self.n_fft:
            raise ConfigError(
                f"front end: window_ms={self.window_ms} is {self.window_samples} samples, "
                f"more than n_fft={self.n_fft}"
            )
        if self.hop_samples < 1:
            raise ConfigError(f"front end: hop_ms={self.hop_ms} is under one sample")
        nyquist = self.sample_rate / 2
        if not 0 <= self.fmin_hz < self.fmax_hz <= nyquist:
            raise ConfigError(
                f"front end: need 0 <= fmin_hz < fmax_hz <= {nyquist:g} (half of "
                f"sample_rate={self.sample_rate}), got fmin_hz={self.fmin_hz}, fmax_hz={self.fmax_hz}"
            )
        if not 0 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"front end: n_mfcc={self.n_mfcc} must be between 0 and n_mels={self.n_mels}")
        if self.clip_samples < self.window_samples:
            raise ConfigError(f"front end: clip_s={self.clip_s} is shorter than one window")
        mel_filterbank(self)  # refuses filters that fall between FFT bins

    def _check_embedding(self):
        for name, value in _embedding_geometry().items():
            if getattr(self, name) != value:
                raise ConfigError(f"front end: kind={KIND_EMBEDDING} fixes {name}={value!r}, got {getattr(self, name)!r}")
        if not np.isfinite(self.clip_s) or self.clip_samples < self.window_samples:
            raise ConfigError(f"front end: clip_s={self.clip_s!r} is shorter than one {self.window_ms:g} ms "
                              f"speech-embedding window")

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_s))

    @property
    def num_features(self) -> int:
        if self.kind == KIND_EMBEDDING:
            from sdk.speech_embedding import EMBEDDING_SIZE

            return EMBEDDING_SIZE
        return self.n_mfcc or self.n_mels

    @property
    def clip_frames(self) -> int:
        """Frames in one model input window of ``clip_s`` seconds."""
        return self.frames_in(self.clip_samples)

    def frames_in(self, num_samples: int) -> int:
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.hop_samples

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FrontEndConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"front end: unknown parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def _embedding_geometry() -> dict:
    from sdk import speech_embedding as se

    return {"sample_rate": se.SAMPLE_RATE, "window_ms": 1000 * se.WINDOW_SAMPLES / se.SAMPLE_RATE,
            "hop_ms": 1000 * se.HOP_SAMPLES / se.SAMPLE_RATE}


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(config: FrontEndConfig) -> np.ndarray:
    """Triangular HTK-mel filters, shape ``(n_fft // 2 + 1, n_mels)``, float32.

    Filter ``m`` rises from mel point ``m`` to ``m + 1`` and falls to ``m + 2``
    of ``n_mels + 2`` points evenly spaced on the mel scale; peaks are 1.
    """
    bin_hz = np.arange(config.n_fft // 2 + 1) * config.sample_rate / config.n_fft
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(config.fmin_hz), _hz_to_mel(config.fmax_hz), config.n_mels + 2))
    lower, centre, upper = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    rising = (bin_hz[:, None] - lower) / (centre - lower)
    falling = (upper - bin_hz[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    empty = np.flatnonzero(weights.sum(axis=0) == 0)
    if empty.size:
        raise ConfigError(
            f"front end: mel filters {empty.tolist()} fall between FFT bins; use fewer than "
            f"n_mels={config.n_mels} bins or a larger n_fft={config.n_fft}"
        )
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=16)
def _analysis_window(window_samples: int) -> np.ndarray:
    # Periodic Hann, as tf.signal.hann_window(periodic=True) makes it.
    n = np.arange(window_samples)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / window_samples)).astype(np.float32)
    window.setflags(write=False)
    return window


@functools.lru_cache(maxsize=16)
def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II basis, shape ``(n_mels, n_mfcc)``, float32."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)
    basis = np.cos(np.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * np.sqrt(2.0 / n_mels)
    basis[:, 0] /= np.sqrt(2.0)
    basis = basis.astype(np.float32)
    basis.setflags(write=False)
    return basis


def _frame_features(frames: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """Features of framed audio ``(n, window_samples)`` -> ``(n, num_features)``."""
    spectrum = np.fft.rfft(frames * _analysis_window(config.window_samples), n=config.n_fft, axis=-1)
    power = spectrum.real.astype(np.float32) ** 2 + spectrum.imag.astype(np.float32) ** 2
    log_mel = np.log(power @ mel_filterbank(config) + np.float32(config.log_floor))
    if config.n_mfcc:
        return (log_mel @ dct_matrix(config.n_mels, config.n_mfcc)).astype(np.float32)
    return log_mel.astype(np.float32)


def features(samples: np.ndarray, *, config: FrontEndConfig) -> np.ndarray:
    """Features of a whole clip.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n,)``
        Mono audio at ``config.sample_rate``, floats in [-1, 1].
    config : FrontEndConfig
        The front end, usually ``bundle.frontend``.

    Returns
    -------
    np.ndarray, shape ``(config.frames_in(n), config.num_features)``, float32
        Log-mel (natural log), MFCC or speech-embedding frames; zero rows for ``n < window``.

    Examples
    --------
    >>> cfg = FrontEndConfig()
    >>> features(np.zeros(16000, np.float32), config=cfg).shape
    (49, 40)
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ConfigError(f"features: samples must be mono, shape (n,), got shape {samples.shape}")
    count = config.frames_in(samples.shape[0])
    if count == 0:
        return np.zeros((0, config.num_features), np.float32)
    if config.kind == KIND_EMBEDDING:  # mel once over the clip: its frames equal each window's own (no edge effects)
        from sdk.speech_embedding import shared

        return shared().embed(samples[None])[0]
    frames = np.lib.stride_tricks.sliding_window_view(samples, config.window_samples)[:: config.hop_samples][:count]
    return _frame_features(frames, config)


class FrontEnd:
    """Streaming front end: push samples in any block sizes, get only new frames.

    >>> fe = FrontEnd(FrontEndConfig())
    >>> fe.push(np.zeros(480, np.float32)).shape   # one window: one frame
    (1, 40)
    >>> fe.push(np.zeros(100, np.float32)).shape   # less than a hop: none yet
    (0, 40)
    """

    def __init__(self, config: FrontEndConfig):
        self.config = config
        self._pending = np.zeros(0, np.float32)  # samples not yet part of an emitted frame's hop
        self.frames_emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add mono samples; return the frames they complete, ``(k, num_features)``."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        buffered = np.concatenate([self._pending, samples]) if self._pending.size else samples
        new_frames = features(buffered, config=self.config)
        consumed = new_frames.shape[0] * self.config.hop_samples
        self._pending = buffered[consumed:].copy()
        self.frames_emitted += new_frames.shape[0]
        return new_frames

    def reset(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self.frames_emitted = 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Whole-clip features; does not touch the streaming state."""
        return features(samples, config=self.config)

"""Reading audio as users have it: any format libsndfile reads, any rate, any channels.

Everything comes out as mono float32 in [-1, 1] at the rate asked for.
Anything that cannot be used raises ``AudioError`` naming the file and the
problem, never a library traceback.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from sdk.errors import AudioError, ConfigError

# Suffixes of files libsndfile reads (headerless .raw needs parameters a file does not carry).
AUDIO_SUFFIXES = (
    frozenset("." + ext.lower() for ext in soundfile.available_formats()) | {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
) - {".raw"}


def audio_files(folder: str | os.PathLike, *, recursive: bool = False) -> list:
    """Audio files (by suffix, see ``AUDIO_SUFFIXES``) in ``folder``, sorted; below it too if ``recursive``."""
    from pathlib import Path

    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def audio_folder(folder: str | os.PathLike, what: str) -> list:
    """Every audio file under ``folder`` (recursive), or ``ConfigError`` "``what`` <folder> does not exist"
    (or "has no audio files")."""
    from pathlib import Path

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{what} {root} does not exist")
    files = audio_files(root, recursive=True)
    if not files:
        raise ConfigError(f"{what} {root} has no audio files")
    return files


@dataclass(frozen=True)
class Audio:
    """Mono samples and their rate, as read from a file."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate


def to_mono(block: np.ndarray) -> np.ndarray:
    """Float32 mono from a block of shape ``(n,)`` or ``(n, channels)``.

    Integer blocks are scaled to [-1, 1] by their type's range (int16 / 32768).
    Channels are averaged.
    """
    block = np.asarray(block)
    if block.dtype.kind in "iu":
        info = np.iinfo(block.dtype)
        offset = (int(info.max) + int(info.min) + 1) / 2  # 0 for signed, mid-scale for unsigned
        block = (block.astype(np.float32) - np.float32(offset)) / np.float32(info.max - offset + 1)
    elif block.dtype.kind != "f":
        raise AudioError(f"audio block: dtype {block.dtype} is not integer or float samples")
    if block.ndim == 2:
        block = block.mean(axis=1)
    elif block.ndim != 1:
        raise AudioError(f"audio block: shape {block.shape} is not (samples,) or (samples, channels)")
    return block.astype(np.float32, copy=False)


def pcm_to_mono(data: bytes, *, dtype, channels: int) -> np.ndarray:
    """Interleaved PCM bytes (a whole number of frames) -> mono float32, as ``to_mono`` scales it."""
    block = np.frombuffer(data, dtype).reshape(-1, channels)
    return to_mono(block if channels > 1 else block[:, 0])


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono audio with soxr (high quality); a no-op when rates match."""
    for name, rate in (("from_rate", from_rate), ("to_rate", to_rate)):
        if not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ConfigError(f"resample: {name}={rate!r} must be a positive integer rate in Hz")
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or samples.size == 0:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


class Resampler:
    """Streaming resampler for blocks from a device at its native rate."""

    def __init__(self, from_rate: int, to_rate: int):
        resample(np.zeros(0, np.float32), from_rate, to_rate)  # validates the rates
        self.from_rate, self.to_rate = int(from_rate), int(to_rate)
        self._stream = None if from_rate == to_rate else soxr.ResampleStream(
            from_rate, to_rate, 1, dtype="float32", quality="HQ"
        )

    def __call__(self, block: np.ndarray, *, last: bool = False) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32)
        if self._stream is None:
            return block
        return self._stream.resample_chunk(block, last=last)


def read_audio(path: str | os.PathLike) -> Audio:
    """Read a whole file at its own rate, downmixed to mono float32."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioError(f"{name}: no such file")
    if os.path.isdir(name):
        raise AudioError(f"{name}: is a folder, not an audio file")
    try:
        with soundfile.SoundFile(name) as f:
            rate, frames = f.samplerate, f.frames
            data = f.read(dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"{name}: not a readable audio file ({exc})") from None
    if frames == 0 or data.shape[0] == 0:
        raise AudioError(f"{name}: file is empty (0 frames)")
    if data.shape[0] < frames:
        raise AudioError(f"{name}: truncated: header says {frames} frames, only {data.shape[0]} could be read")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return Audio(to_mono(data), int(rate))


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Read a file as mono float32 at ``sample_rate`` (resampled with soxr if needed)."""
    audio = read_audio(path)
    return resample(audio.samples, audio.sample_rate, sample_rate)


def fit_length(samples: np.ndarray, num_samples: int) -> np.ndarray:
    """Pad with zeros (centred) or crop (centred) to exactly ``num_samples``."""
    samples = np.asarray(samples, dtype=np.float32)
    excess = samples.shape[0] - num_samples
    if excess > 0:
        start = excess // 2
        return samples[start : start + num_samples]
    if excess < 0:
        before = -excess // 2
        return np.pad(samples, (before, -excess - before))
    return samples

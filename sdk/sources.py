"""Audio sources with one interface: iterate float32 mono blocks at ``sample_rate``.

Every source has ``sample_rate`` (Hz, the rate of its blocks, not the model's),
``stats`` (a ``SourceStats``) and ``__iter__``. ``Detector.listen`` accepts any
of them, and resamples to the model rate itself. The microphone lives in
``sdk.microphone`` because it needs the optional ``mic`` extra (sounddevice).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import BinaryIO, Iterable, Iterator

import numpy as np
import soundfile

from sdk.audio import pcm_to_mono, to_mono
from sdk.errors import AudioError, ConfigError


@dataclass
class SourceStats:
    """What a source delivered, and what it lost (overflows are never silent)."""

    blocks: int = 0
    samples: int = 0
    overflows: int = 0  # the device reported samples lost before we saw them
    dropped_blocks: int = 0  # blocks we discarded because the reader fell behind

    def to_dict(self) -> dict:
        return asdict(self)


def check_rate(sample_rate, what: str) -> int:
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ConfigError(f"{what}: sample_rate={sample_rate!r} must be a positive integer in Hz")
    return int(sample_rate)


class ArraySource:
    """Any iterable of numpy blocks (``(n,)`` or ``(n, channels)``, int or float) at a declared rate.

    >>> src = ArraySource([np.zeros(160, np.int16)], sample_rate=8000)
    >>> [b.dtype.name for b in src]
    ['float32']
    """

    def __init__(self, blocks: Iterable[np.ndarray] | np.ndarray, *, sample_rate: int):
        self.sample_rate = check_rate(sample_rate, "ArraySource")
        if isinstance(blocks, np.ndarray):
            blocks = [blocks]
        self._blocks = blocks
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        for i, block in enumerate(self._blocks):
            if not isinstance(block, np.ndarray):
                raise AudioError(f"ArraySource: block {i} is a {type(block).__name__}, not a numpy array")
            mono = to_mono(block)
            self.stats.blocks += 1
            self.stats.samples += mono.shape[0]
            yield mono


def blocks_of(samples: np.ndarray, block_samples: int) -> Iterator[np.ndarray]:
    """Split an array into blocks of ``block_samples`` (the last may be shorter)."""
    if block_samples < 1:
        raise ConfigError(f"blocks_of: block_samples={block_samples} must be at least 1")
    for start in range(0, samples.shape[0], block_samples):
        yield samples[start : start + block_samples]


class FileSource:
    """An audio file read in blocks at its own rate; ``realtime=True`` paces it like a microphone."""

    def __init__(self, path: str | os.PathLike, *, realtime: bool = False, block_s: float = 0.1):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise AudioError(f"{self.path}: no such file")
        if not block_s > 0:
            raise ConfigError(f"FileSource: block_s={block_s!r} must be positive")
        try:
            info = soundfile.info(self.path)
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
            raise AudioError(f"{self.path}: not a readable audio file ({exc})") from None
        self.sample_rate = int(info.samplerate)
        self.duration_s = info.frames / info.samplerate
        self.realtime, self.block_s = realtime, block_s
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        block_samples = max(1, int(round(self.block_s * self.sample_rate)))
        started = time.monotonic()
        try:
            for block in soundfile.blocks(self.path, blocksize=block_samples, dtype="float32", always_2d=True):
                mono = to_mono(block)
                self.stats.blocks += 1
                self.stats.samples += mono.shape[0]
                if self.realtime:  # sleep until the block would have been recorded
                    delay = started + self.stats.samples / self.sample_rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                yield mono
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"{self.path}: read failed after {self.stats.samples} samples ({exc})") from None


class StdinSource:
    """Raw interleaved PCM from a pipe, e.g. ``arecord -t raw -f S16_LE -r 16000 | auricle listen ...``."""

    DTYPES = ("int16", "int32", "float32", "uint8")

    def __init__(
        self,
        sample_rate: int,
        *,
        dtype: str = "int16",
        channels: int = 1,
        block_s: float = 0.02,
        stream: BinaryIO | None = None,
    ):
        self.sample_rate = check_rate(sample_rate, "StdinSource")
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
        if name not in self.DTYPES:
            raise ConfigError(f"StdinSource: dtype={dtype!r} must be one of {self.DTYPES}")
        if not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"StdinSource: channels={channels!r} must be a positive integer")
        self.dtype, self.channels = np.dtype(dtype), channels
        self.block_samples = max(1, int(round(block_s * self.sample_rate)))
        self._stream = stream
        self.stats = SourceStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        stream = self._stream if self._stream is not None else sys.stdin.buffer
        frame_bytes = self.dtype.itemsize * self.channels
        leftover = b""
        while True:
            chunk = stream.read(self.block_samples * frame_bytes)
            if not chunk:
                break
            data = leftover + chunk
            usable = len(data) - len(data) % frame_bytes
            leftover = data[usable:]
            if not usable:
                continue
            mono = pcm_to_mono(data[:usable], dtype=self.dtype, channels=self.channels)
            self.stats.blocks += 1
            self.stats.samples += mono.shape[0]
            yield mono

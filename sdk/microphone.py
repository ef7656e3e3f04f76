"""The microphone: PortAudio through ``sounddevice`` (the ``mic`` extra).

The device is opened at its native rate (what it does best; the Detector
resamples with soxr). PortAudio calls us from its own thread; the callback only
copies the block into a bounded queue, and counts what it could not keep:
device overflows (``status.input_overflow``) and blocks dropped because the
reader fell behind. Both are logged as warnings from the reading thread and kept
in ``stats``. Reads time out, so a dead device never hangs the program.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Iterator

import numpy as np

from sdk.errors import ConfigError, DeviceError
from sdk.sources import SourceStats, check_rate

log = logging.getLogger(__name__)


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: libportaudio2 missing
        raise DeviceError(
            f"microphone input needs sounddevice and PortAudio (pip install 'auricle[mic]', "
            f"apt-get install libportaudio2): {exc}"
        ) from None
    return sounddevice


def list_devices() -> list[dict]:
    """Input devices: ``index``, ``name``, ``host_api``, ``max_input_channels``, ``default_sample_rate``."""
    sd = _sounddevice()
    apis = sd.query_hostapis()
    found = []
    for info in sd.query_devices():
        if info["max_input_channels"] > 0:
            found.append(
                {
                    "index": int(info["index"]),
                    "name": info["name"],
                    "host_api": apis[info["hostapi"]]["name"],
                    "max_input_channels": int(info["max_input_channels"]),
                    "default_sample_rate": int(info["default_samplerate"]),
                }
            )
    return found


def _describe(devices: list[dict]) -> str:
    if not devices:
        return "no input devices found (is a sound card, JACK or an ALSA device configured?)"
    return "available inputs: " + "; ".join(f"{d['index']}: {d['name']} ({d['host_api']})" for d in devices)


def find_device(device: int | str | None = None) -> dict:
    """The input device by index, by (case-insensitive) name substring, or the default one."""
    sd = _sounddevice()
    devices = list_devices()
    if device is None:
        default = sd.default.device[0]
        if default is None or default < 0:
            if devices:
                return devices[0]
            raise DeviceError(f"no default input device; {_describe(devices)}")
        device = int(default)
    if isinstance(device, str) and device.strip().lstrip("-").isdigit():
        device = int(device)
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        match = [d for d in devices if d["index"] == device]
        if not match:
            raise DeviceError(f"input device {device} does not exist or has no input channels; {_describe(devices)}")
        return match[0]
    if not isinstance(device, str):
        raise ConfigError(f"device={device!r} must be an index, a name or None")
    exact = [d for d in devices if d["name"].lower() == device.lower()]
    match = exact or [d for d in devices if device.lower() in d["name"].lower()]
    if not match:
        raise DeviceError(f"no input device named like {device!r}; {_describe(devices)}")
    if len(match) > 1:
        raise DeviceError(f"input device name {device!r} is ambiguous; {_describe(match)}")
    return match[0]


class Microphone:
    """Live input from a PortAudio device, as float32 mono blocks.

    Parameters
    ----------
    device : None, int or str
        Default input, an index from ``list_devices()``, or a name substring.
    sample_rate : int, optional
        Rate to open the device at; default its native (default) rate.
    block_s : float
        Seconds per block (0.02 = 20 ms).
    channel : int
        Which input channel to keep (0 = first).
    queue_s : float
        Audio the reader may fall behind before blocks are dropped (and counted).
    timeout_s : float
        A read that waits longer than this raises ``DeviceError``.
    max_s : float, optional
        Stop after this much audio (tests, fixed-length recordings).
    """

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        block_s: float = 0.02,
        channel: int = 0,
        queue_s: float = 2.0,
        timeout_s: float = 2.0,
        max_s: float | None = None,
    ):
        self._sd = _sounddevice()
        self.device = find_device(device)
        name = self.device["name"]
        native = self.device["default_sample_rate"]
        self.sample_rate = native if sample_rate is None else check_rate(sample_rate, f"Microphone({name!r})")
        if not isinstance(channel, int) or not 0 <= channel < self.device["max_input_channels"]:
            raise DeviceError(
                f"input device {name!r} has {self.device['max_input_channels']} channel(s); channel={channel!r} "
                "is not one of them (0-based)"
            )
        for label, value in (("block_s", block_s), ("queue_s", queue_s), ("timeout_s", timeout_s)):
            if not value > 0:
                raise ConfigError(f"Microphone: {label}={value!r} must be positive")
        self.channel = channel
        self.block_samples = max(1, int(round(block_s * self.sample_rate)))
        self.timeout_s, self.max_s = timeout_s, max_s
        try:
            self._sd.check_input_settings(
                device=self.device["index"], channels=channel + 1, dtype="float32", samplerate=self.sample_rate
            )
        except (self._sd.PortAudioError, ValueError) as exc:
            raise DeviceError(
                f"input device {name!r} refuses sample_rate={self.sample_rate} Hz with {channel + 1} channel(s) "
                f"({exc}); its default rate is {native} Hz"
            ) from None
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, int(queue_s / block_s)))
        self._stop = threading.Event()
        self._callback_overflows = 0  # written only by the PortAudio thread
        self._callback_dropped = 0
        self.stats = SourceStats()

    def __repr__(self) -> str:
        return f"Microphone({self.device['name']!r}, sample_rate={self.sample_rate})"

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self._callback_overflows += 1
        try:
            self._queue.put_nowait(indata[:, self.channel].copy())
        except queue.Full:
            self._callback_dropped += 1

    def stop(self) -> None:
        """End the iteration from another thread (or a callback)."""
        self._stop.set()

    def _report_losses(self) -> None:
        overflows, dropped = self._callback_overflows, self._callback_dropped
        if overflows > self.stats.overflows or dropped > self.stats.dropped_blocks:
            log.warning(
                "%s: audio lost: %d input overflow(s), %d block(s) dropped so far (reader too slow?)",
                self.device["name"], overflows, dropped,
            )
            self.stats.overflows, self.stats.dropped_blocks = overflows, dropped

    def __iter__(self) -> Iterator[np.ndarray]:
        self._stop.clear()
        limit = None if self.max_s is None else int(round(self.max_s * self.sample_rate))
        try:
            stream = self._sd.InputStream(
                device=self.device["index"],
                channels=self.channel + 1,
                samplerate=self.sample_rate,
                blocksize=self.block_samples,
                dtype="float32",
                callback=self._callback,
            )
        except (self._sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open input device {self.device['name']!r} at {self.sample_rate} Hz ({exc})") from None
        with stream:
            while not self._stop.is_set():
                try:
                    block = self._queue.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise DeviceError(
                        f"input device {self.device['name']!r} delivered no audio for {self.timeout_s} s"
                    ) from None
                self._report_losses()
                if limit is not None:
                    block = block[: limit - self.stats.samples]
                self.stats.blocks += 1
                self.stats.samples += block.shape[0]
                yield block
                if limit is not None and self.stats.samples >= limit:
                    break
        self._report_losses()

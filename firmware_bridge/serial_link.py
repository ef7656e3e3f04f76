"""Host side of the serial link: detections from a microcontroller as sdk events.

>>> with SerialLink("/dev/ttyACM0", bundle=Bundle.load("kws.tflite")) as link:  # doctest: +SKIP
...     for event in link:                       # sdk.events.Detection
...         print(event.label, event.score, event.time_s)

Frames are decoded by ``protocol.Decoder``; bad frames are counted
(``link.rejects``) and skipped. Labels come from the bundle or list given, or
else from the device's HELLO; when both exist their hashes must agree. Any
valid message (HEARTBEAT included) proves the link alive; none within
``silence_timeout_s`` raises LinkError.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator, Optional

from firmware_bridge.protocol import (
    PROTOCOL_VERSION,
    Decoder,
    DetectionMessage,
    Heartbeat,
    Hello,
    Message,
    encode,
    labels_hash,
)
from sdk.bundle import Bundle
from sdk.errors import ConfigError, LinkError
from sdk.events import Detection


class SerialLink:
    """A serial port that carries Auricle frames.

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyACM0``, ``COM3``) or a pyserial URL (``loop://``).
    baudrate : int
    bundle : Bundle, optional
        The model the device runs: labels, name and clip length for events.
    labels : sequence of str, optional
        Labels, when no bundle is at hand.
    silence_timeout_s : float
        Longest time without a valid message before LinkError.
    read_timeout_s : float
        How long one read waits for bytes (the granularity of polling).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        bundle: Optional[Bundle] = None,
        labels=None,
        silence_timeout_s: float = 5.0,
        read_timeout_s: float = 0.05,
    ):
        import serial  # pyserial: the 'mcu' extra

        if silence_timeout_s <= 0 or read_timeout_s <= 0:
            raise ConfigError(
                f"SerialLink: silence_timeout_s={silence_timeout_s} and read_timeout_s={read_timeout_s} must be positive"
            )
        self.port = port
        self.bundle = bundle
        self.silence_timeout_s = silence_timeout_s
        self._expected_labels = tuple(bundle.labels) if bundle is not None else (tuple(labels) if labels else None)
        self.labels = self._expected_labels
        self.hello: Optional[Hello] = None
        self.last_heartbeat: Optional[Heartbeat] = None
        self.heartbeats = 0
        self.decoder = Decoder()
        self._seq = 0
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=read_timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"{port}: cannot open serial port ({exc})") from None
        self._last_valid_s = time.monotonic()

    # -- life cycle -------------------------------------------------------
    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> "SerialLink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def rejects(self):
        """Counter of rejected frames by reason (see protocol.REJECT_REASONS)."""
        return self.decoder.rejects

    # -- receiving --------------------------------------------------------
    def _read(self) -> bytes:
        import serial

        try:
            return self._serial.read(max(1, self._serial.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.port}: read failed ({exc})") from None

    def _silence_error(self) -> LinkError:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(self.rejects.items())) or "no bytes rejected"
        version = self.decoder.last_foreign_version
        hint = f"; device speaks protocol version {version}, host {PROTOCOL_VERSION}" if version is not None else ""
        return LinkError(
            f"{self.port}: no valid message for {self.silence_timeout_s:g} s (last heartbeat: "
            f"{'never' if self.last_heartbeat is None else f'{self.last_heartbeat.uptime_ms} ms uptime'}; "
            f"rejected frames: {detail}{hint})"
        )

    def poll(self) -> list[Message]:
        """Read what has arrived (waiting at most read_timeout_s); return its valid messages.

        Raises LinkError when no valid message came for ``silence_timeout_s``.
        """
        messages = self.decoder.feed(self._read())
        now = time.monotonic()
        if messages:
            self._last_valid_s = now
        elif now - self._last_valid_s > self.silence_timeout_s:
            raise self._silence_error()
        for message in messages:
            self._track(message)
        return messages

    def _track(self, message: Message) -> None:
        if isinstance(message, Heartbeat):
            self.last_heartbeat = message
            self.heartbeats += 1
        elif isinstance(message, Hello):
            if not message.labels_consistent:
                raise LinkError(f"{self.port}: HELLO from {message.name!r} carries labels that do not match its own hash")
            if self._expected_labels is not None and message.labels_hash != labels_hash(self._expected_labels):
                raise LinkError(
                    f"{self.port}: device runs {message.name!r} with labels {list(message.labels)}, "
                    f"but the host expects {list(self._expected_labels)}"
                )
            self.hello = message
            self.labels = message.labels

    def messages(self) -> Iterator[Message]:
        """Every valid message, as it arrives; ends only by LinkError or close()."""
        while self._serial.is_open:
            yield from self.poll()

    def to_event(self, message: DetectionMessage) -> Detection:
        """A DETECTION message as an sdk Detection (times from the device clock)."""
        if self.labels is None:
            raise LinkError(
                f"{self.port}: DETECTION (label {message.label_index}) before any HELLO, and no bundle or labels "
                "were given; pass bundle= or labels="
            )
        if message.label_index >= len(self.labels):
            raise LinkError(
                f"{self.port}: DETECTION label index {message.label_index}, but the model has {len(self.labels)} labels"
            )
        end_s = message.timestamp_ms / 1000.0
        clip_s = self.bundle.frontend.clip_s if self.bundle is not None else 0.0
        name = self.hello.name if self.hello is not None else (self.bundle.name if self.bundle is not None else "")
        return Detection(
            label=self.labels[message.label_index],
            score=message.score,
            start_s=max(0.0, end_s - clip_s),
            end_s=end_s,
            model=name,
            extra={"source": self.port, "seq": message.seq, "label_index": message.label_index,
                   "device_time_ms": message.timestamp_ms},
        )

    def events(self) -> Iterator[Detection]:
        """Detections as sdk events; HELLO and HEARTBEAT are tracked on the way."""
        for message in self.messages():
            if isinstance(message, DetectionMessage):
                yield self.to_event(message)

    __iter__ = events

    def listen(self, on_detection: Callable[[Detection], None], *, duration_s: Optional[float] = None) -> int:
        """Call ``on_detection`` for each event, for ``duration_s`` (or until LinkError); return the count."""
        deadline = None if duration_s is None else time.monotonic() + duration_s
        count = 0
        while self._serial.is_open and (deadline is None or time.monotonic() < deadline):
            for message in self.poll():
                if isinstance(message, DetectionMessage):
                    on_detection(self.to_event(message))
                    count += 1
        return count

    # -- sending ----------------------------------------------------------
    def send(self, message: Message) -> None:
        """Send a message (e.g. an Ack) with the link's own sequence number."""
        import dataclasses
        import serial

        message = dataclasses.replace(message, seq=self._seq)
        self._seq = (self._seq + 1) & 0xFFFF
        try:
            self._serial.write(encode(message))
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.port}: write failed ({exc})") from None

"""Auricle serial protocol: messages between a microcontroller and a host.

Framing (``framing.py``): ``0x00 | COBS(payload | CRC-16/CCITT-FALSE big-endian) | 0x00``.

Payload, all integers little-endian::

    offset  size  field
    0       1     version       PROTOCOL_VERSION (1); other versions are rejected
    1       1     type          one of the message types below
    2       2     seq           sender's sequence number, +1 per message, wraps at 65536
    4       ...   body          per type; payload at most MAX_PAYLOAD_BYTES (512)

Bodies::

    0x01 HELLO        labels_hash u32 | label_count u8 | name_len u8 | name[name_len]
                      | label_count x (label_len u8 | label[label_len])      (UTF-8)
                      labels_hash = CRC-32 (zlib) of the labels joined by "\\n"
    0x02 HEARTBEAT    uptime_ms u32
    0x03 DETECTION    label_index u8 | score u8 (score = value / 255) | timestamp_ms u32
    0x04 AUDIO_CHUNK  first_sample u32 | samples int16[n], 1 <= n <= 252 (mono PCM)
    0x05 ACK          acked_seq u16 | acked_type u8
    0x06 ERROR        code u8 | text (UTF-8, 0..64 bytes, the rest of the payload)

The streaming ``Decoder`` takes bytes in any chunks and returns the valid
messages. Everything else is counted by reason in ``Decoder.rejects`` and
dropped up to the next 0x00, so a bad frame never costs the frame after it:

    oversize      more than max_encoded_bytes(512) bytes without a 0x00
    garbage       bytes between delimiters that do not start like a frame
    truncated     starts like a frame (version, known type) but ends early:
                  its COBS runs past the end, or it is shorter than its type allows
    bad_crc       a frame of plausible length whose CRC does not match
    version       CRC fine, version byte is not PROTOCOL_VERSION
    unknown_type  CRC fine, type byte is not a known message type
    malformed     CRC fine, body length or content does not fit the type
"""
from __future__ import annotations

import collections
import struct
import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from cobs import cobs

from firmware_bridge.framing import CRC_BYTES, crc16, encode_frame, max_encoded_bytes
from sdk.errors import ConfigError

PROTOCOL_VERSION = 1
MAX_PAYLOAD_BYTES = 512
HEADER_BYTES = 4
MAX_AUDIO_SAMPLES = 252
MAX_ERROR_TEXT_BYTES = 64
REJECT_REASONS = ("oversize", "garbage", "truncated", "bad_crc", "version", "unknown_type", "malformed")

_HEADER = struct.Struct("<BBH")


def labels_hash(labels) -> int:
    """CRC-32 (zlib) of the labels joined by ``\\n`` (UTF-8): what HELLO carries."""
    return zlib.crc32("\n".join(labels).encode()) & 0xFFFFFFFF


class _Malformed(Exception):
    """A body that does not fit its type (internal: becomes a 'malformed' reject)."""


@dataclass(frozen=True)
class Hello:
    """Sent by the device at start-up: which model it runs."""

    TYPE: ClassVar[int] = 0x01
    name: str
    labels: tuple[str, ...]
    labels_hash: int = -1  # -1: computed from the labels
    seq: int = 0

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.labels_hash < 0:
            object.__setattr__(self, "labels_hash", labels_hash(self.labels))

    def body(self) -> bytes:
        name = self.name.encode()
        labels = [label.encode() for label in self.labels]
        if len(name) > 255 or len(labels) > 255 or any(len(label) > 255 for label in labels):
            raise ConfigError(f"HELLO: name {self.name!r} or one of {len(labels)} labels is over 255 bytes")
        parts = [struct.pack("<IBB", self.labels_hash, len(labels), len(name)), name]
        parts += [bytes([len(label)]) + label for label in labels]
        return b"".join(parts)

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "Hello":
        if len(body) < 6:
            raise _Malformed
        digest, count, name_len = struct.unpack_from("<IBB", body)
        pos = 6 + name_len
        name = body[6:pos]
        labels = []
        for _ in range(count):
            if pos >= len(body):
                raise _Malformed
            size = body[pos]
            labels.append(body[pos + 1 : pos + 1 + size])
            pos += 1 + size
        if pos != len(body) or len(name) != name_len:
            raise _Malformed
        try:
            return cls(name.decode(), tuple(label.decode() for label in labels), digest, seq)
        except UnicodeDecodeError:
            raise _Malformed from None

    @property
    def labels_consistent(self) -> bool:
        return self.labels_hash == labels_hash(self.labels)


@dataclass(frozen=True)
class Heartbeat:
    TYPE: ClassVar[int] = 0x02
    uptime_ms: int
    seq: int = 0

    def body(self) -> bytes:
        return struct.pack("<I", self.uptime_ms & 0xFFFFFFFF)

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "Heartbeat":
        if len(body) != 4:
            raise _Malformed
        return cls(struct.unpack("<I", body)[0], seq)


@dataclass(frozen=True)
class DetectionMessage:
    """A detection on the device; ``score`` travels as round(score * 255)."""

    TYPE: ClassVar[int] = 0x03
    label_index: int
    score: float
    timestamp_ms: int
    seq: int = 0

    @property
    def score_u8(self) -> int:
        return int(round(min(max(float(self.score), 0.0), 1.0) * 255))

    def body(self) -> bytes:
        if not 0 <= self.label_index <= 255:
            raise ConfigError(f"DETECTION: label_index={self.label_index} must be 0..255")
        return struct.pack("<BBI", self.label_index, self.score_u8, self.timestamp_ms & 0xFFFFFFFF)

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "DetectionMessage":
        if len(body) != 6:
            raise _Malformed
        index, score, timestamp = struct.unpack("<BBI", body)
        return cls(index, score / 255.0, timestamp, seq)


@dataclass(frozen=True)
class AudioChunk:
    """Mono int16 PCM; ``first_sample`` counts samples since the stream started."""

    TYPE: ClassVar[int] = 0x04
    first_sample: int
    samples: tuple[int, ...]
    seq: int = 0

    def body(self) -> bytes:
        if not 1 <= len(self.samples) <= MAX_AUDIO_SAMPLES:
            raise ConfigError(f"AUDIO_CHUNK: {len(self.samples)} samples; must be 1..{MAX_AUDIO_SAMPLES}")
        return struct.pack("<I", self.first_sample & 0xFFFFFFFF) + np.asarray(self.samples, "<i2").tobytes()

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "AudioChunk":
        n, odd = divmod(len(body) - 4, 2)
        if len(body) < 6 or odd or n > MAX_AUDIO_SAMPLES:
            raise _Malformed
        samples = tuple(int(s) for s in np.frombuffer(body, "<i2", offset=4))
        return cls(struct.unpack_from("<I", body)[0], samples, seq)

    def array(self) -> np.ndarray:
        return np.asarray(self.samples, np.int16)


@dataclass(frozen=True)
class Ack:
    TYPE: ClassVar[int] = 0x05
    acked_seq: int
    acked_type: int
    seq: int = 0

    def body(self) -> bytes:
        return struct.pack("<HB", self.acked_seq & 0xFFFF, self.acked_type)

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "Ack":
        if len(body) != 3:
            raise _Malformed
        return cls(*struct.unpack("<HB", body), seq)


@dataclass(frozen=True)
class Error:
    TYPE: ClassVar[int] = 0x06
    code: int
    text: str = ""
    seq: int = 0

    def body(self) -> bytes:
        text = self.text.encode()
        if len(text) > MAX_ERROR_TEXT_BYTES or not 0 <= self.code <= 255:
            raise ConfigError(f"ERROR: code={self.code} must be 0..255, text at most {MAX_ERROR_TEXT_BYTES} bytes")
        return bytes([self.code]) + text

    @classmethod
    def parse(cls, body: bytes, seq: int) -> "Error":
        if not 1 <= len(body) <= 1 + MAX_ERROR_TEXT_BYTES:
            raise _Malformed
        try:
            return cls(body[0], body[1:].decode(), seq)
        except UnicodeDecodeError:
            raise _Malformed from None


MESSAGE_TYPES = {cls.TYPE: cls for cls in (Hello, Heartbeat, DetectionMessage, AudioChunk, Ack, Error)}
_MIN_BODY_BYTES = {Hello.TYPE: 6, Heartbeat.TYPE: 4, DetectionMessage.TYPE: 6, AudioChunk.TYPE: 6, Ack.TYPE: 3, Error.TYPE: 1}
Message = Hello | Heartbeat | DetectionMessage | AudioChunk | Ack | Error


def pack(message: Message) -> bytes:
    """The payload (header + body) of a message, without framing."""
    payload = _HEADER.pack(PROTOCOL_VERSION, message.TYPE, message.seq & 0xFFFF) + message.body()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ConfigError(f"{type(message).__name__}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return payload


def encode(message: Message) -> bytes:
    """A message as bytes on the wire (framed)."""
    return encode_frame(pack(message))


class Decoder:
    """Streaming decoder: ``feed(bytes)`` returns the complete valid messages.

    Rejected chunks are counted in ``rejects`` (a Counter keyed by the reasons
    in REJECT_REASONS) and skipped up to the next 0x00; nothing is raised.
    """

    def __init__(self, *, max_payload_bytes: int = MAX_PAYLOAD_BYTES):
        self.max_encoded_bytes = max_encoded_bytes(max_payload_bytes)
        self.rejects: collections.Counter = collections.Counter()
        self.accepted = 0
        self.last_foreign_version: int | None = None  # version byte of the last 'version' reject
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[Message]:
        data = bytes(data)
        messages: list[Message] = []
        start = 0
        while True:
            end = data.find(0, start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._discarding and piece:
                self._buffer += piece
                if len(self._buffer) > self.max_encoded_bytes:
                    self.rejects["oversize"] += 1
                    self._buffer.clear()
                    self._discarding = True
            if end < 0:
                return messages
            if self._buffer:
                message = self._chunk(bytes(self._buffer))
                if message is not None:
                    messages.append(message)
            self._buffer.clear()
            self._discarding = False
            start = end + 1

    def _looks_like_frame(self, chunk: bytes) -> bool:
        # The first COBS group holds the header's first two bytes when its code is >= 3.
        return len(chunk) >= 3 and chunk[0] >= 3 and chunk[1] == PROTOCOL_VERSION and chunk[2] in MESSAGE_TYPES

    def _chunk(self, chunk: bytes) -> Message | None:
        try:
            raw = cobs.decode(chunk)
        except cobs.DecodeError:
            return self._reject("truncated" if self._looks_like_frame(chunk) else "garbage")
        if len(raw) < HEADER_BYTES + CRC_BYTES:
            return self._reject("truncated" if self._looks_like_frame(chunk) else "garbage")
        payload, crc = raw[:-CRC_BYTES], raw[-CRC_BYTES:]
        if crc16(payload) != int.from_bytes(crc, "big"):
            # Shorter than its own type allows: the tail was lost, not flipped.
            short = raw[0] == PROTOCOL_VERSION and len(raw) < HEADER_BYTES + _MIN_BODY_BYTES.get(raw[1], 0) + CRC_BYTES
            return self._reject("truncated" if short else "bad_crc")
        if len(payload) > MAX_PAYLOAD_BYTES:
            return self._reject("oversize")
        version, kind, seq = _HEADER.unpack_from(payload)
        if version != PROTOCOL_VERSION:
            self.last_foreign_version = version
            return self._reject("version")
        cls = MESSAGE_TYPES.get(kind)
        if cls is None:
            return self._reject("unknown_type")
        try:
            message = cls.parse(payload[HEADER_BYTES:], seq)
        except _Malformed:
            return self._reject("malformed")
        self.accepted += 1
        return message

    def _reject(self, reason: str) -> None:
        self.rejects[reason] += 1
        return None

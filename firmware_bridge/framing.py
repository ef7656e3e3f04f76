"""Frames on a byte stream: COBS, CRC-16/CCITT-FALSE and 0x00 delimiters.

A frame on the wire is ``0x00 | COBS(payload | CRC16_BE(payload)) | 0x00``.
COBS removes every 0x00 from the encoded bytes, so 0x00 only ever marks a
frame boundary: a receiver that loses sync (noise, a reset device, a dropped
byte) is back in step at the next 0x00. The leading 0x00 means garbage on the
line before a frame ends up in a chunk of its own instead of spoiling the
frame; two 0x00 in a row (an empty chunk) are ignored.

CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, not reflected, no
final XOR ("123456789" -> 0x29B1); stdlib ``binascii.crc_hqx(data, 0xFFFF)``
computes exactly that. It is appended big-endian, so the CRC of
``payload | crc`` is 0.
"""
from __future__ import annotations

import binascii

from cobs import cobs

DELIMITER = b"\x00"
CRC_BYTES = 2


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_frame(payload: bytes) -> bytes:
    """``0x00 | COBS(payload | crc16 big-endian) | 0x00``."""
    return DELIMITER + cobs.encode(payload + crc16(payload).to_bytes(CRC_BYTES, "big")) + DELIMITER


def max_encoded_bytes(max_payload_bytes: int) -> int:
    """Longest COBS chunk (no delimiters) a payload of ``max_payload_bytes`` can give."""
    raw = max_payload_bytes + CRC_BYTES
    return raw + raw // 254 + 1

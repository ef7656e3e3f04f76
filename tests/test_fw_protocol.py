"""Serial protocol (Python side): framing, messages, and the streaming decoder's rejects."""
from __future__ import annotations

import os

import pytest
from cobs import cobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as p
from firmware_bridge.framing import crc16, encode_frame, max_encoded_bytes
from fw_helpers import normalized, sample_messages
from sdk.errors import ConfigError

FUZZ_EXAMPLES = int(os.environ.get("AURICLE_FUZZ_EXAMPLES", "300"))


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16(b"") == 0xFFFF
    payload = b"\x01\x02\x03\x00"
    assert crc16(payload + crc16(payload).to_bytes(2, "big")) == 0  # appended big-endian


def test_frame_layout_by_hand():
    # HEARTBEAT seq=1 uptime=1234: payload 01 02 0100 d2040000, CRC big-endian, COBS, 0x00 both ends.
    payload = bytes.fromhex("01020100d2040000")
    frame = p.encode(p.Heartbeat(1234, seq=1))
    assert p.pack(p.Heartbeat(1234, seq=1)) == payload
    assert frame[0] == 0 and frame[-1] == 0 and 0 not in frame[1:-1]
    assert cobs.decode(frame[1:-1]) == payload + crc16(payload).to_bytes(2, "big")
    assert frame == encode_frame(payload)
    assert frame.hex(" ") == "00 04 01 02 01 03 d2 04 01 03 ca 05 00"  # the example in docs/serial-protocol.md


@pytest.mark.parametrize("message", sample_messages(), ids=lambda m: type(m).__name__)
def test_round_trip_each_message(message):
    decoder = p.Decoder()
    assert decoder.feed(p.encode(message)) == [normalized(message)]
    assert decoder.rejects == {} and decoder.accepted == 1


def test_stream_in_any_chunks():
    messages = sample_messages()
    stream = b"".join(p.encode(m) for m in messages)
    for chunk in (1, 2, 7, 64, len(stream)):
        decoder = p.Decoder()
        got = [m for i in range(0, len(stream), chunk) for m in decoder.feed(stream[i : i + chunk])]
        assert got == [normalized(m) for m in messages], chunk


def test_score_travels_as_u8():
    assert p.DetectionMessage(0, 0.5, 0).score_u8 == 128
    assert p.DetectionMessage(0, 1.7, 0).score_u8 == 255
    assert p.DetectionMessage(0, -0.2, 0).score_u8 == 0


def test_bad_messages_refused_when_packed():
    with pytest.raises(ConfigError, match="252"):
        p.encode(p.AudioChunk(0, (0,) * 253))
    with pytest.raises(ConfigError, match="label_index=300"):
        p.encode(p.DetectionMessage(300, 0.5, 0))
    with pytest.raises(ConfigError, match="64 bytes"):
        p.encode(p.Error(1, "x" * 65))


GOOD = p.DetectionMessage(1, 0.75, 4242, seq=77)


def _payload_frame(payload: bytes) -> bytes:
    return encode_frame(payload)


def _bad_crc():
    payload = p.pack(GOOD)
    return b"\x00" + cobs.encode(payload + (crc16(payload) ^ 0x0101).to_bytes(2, "big")) + b"\x00"


CASES = {
    "bad_crc": _bad_crc(),
    "truncated": p.encode(GOOD)[:-4] + b"\x00",
    "garbage": b"\x00\x17\x99\xfe\x42\x13\x37\x00",
    "unknown_type": _payload_frame(bytes([p.PROTOCOL_VERSION, 0x7E, 1, 0, 9, 9])),
    "version": _payload_frame(bytes([p.PROTOCOL_VERSION + 1, 0x03, 1, 0]) + p.pack(GOOD)[4:]),
    "malformed": _payload_frame(p.pack(GOOD) + b"\x01"),
    "oversize": b"\x00" + b"\x01" * (max_encoded_bytes(p.MAX_PAYLOAD_BYTES) + 10) + b"\x00",
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_reject_is_counted_and_the_next_frame_survives(reason):
    decoder = p.Decoder()
    stream = p.encode(p.Heartbeat(1)) + CASES[reason] + p.encode(GOOD)
    assert decoder.feed(stream) == [p.Heartbeat(1), normalized(GOOD)]
    assert decoder.rejects == {reason: 1}
    if reason == "version":
        assert decoder.last_foreign_version == p.PROTOCOL_VERSION + 1


@pytest.mark.parametrize("position", range(1, 13))
def test_corrupted_byte_anywhere_is_rejected_once(position):
    frame = bytearray(p.encode(GOOD))
    frame[position] ^= 0x5A
    decoder = p.Decoder()
    assert decoder.feed(bytes(frame) + p.encode(GOOD)) == [normalized(GOOD)]
    assert sum(decoder.rejects.values()) == 1, decoder.rejects


def test_garbage_without_delimiters_does_not_spoil_the_next_frame():
    # Line noise with no 0x00 at all, right before a frame: the frame's leading 0x00 isolates it.
    decoder = p.Decoder()
    assert decoder.feed(b"\x05\x06\x07\xff" + p.encode(GOOD)) == [normalized(GOOD)]
    assert decoder.rejects == {"garbage": 1}


def test_oversize_is_counted_once_and_skipped_to_the_next_delimiter():
    decoder = p.Decoder()
    noise = b"\x02" * 5000
    for i in range(0, len(noise), 333):  # fed in pieces: still one reject
        assert decoder.feed(noise[i : i + 333]) == []
    assert decoder.feed(p.encode(GOOD)) == [normalized(GOOD)]
    assert decoder.rejects == {"oversize": 1}


# -- fuzz -------------------------------------------------------------------
# Hypothesis explores structure (a few hundred cases per run); tests/test_fw_fuzz.py
# runs 1,000,000 plain random mutations in the slow suite.

FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def chunks_of(stream: bytes) -> list[bytes]:
    """The non-empty pieces between 0x00 delimiters: each gets exactly one verdict from the decoder."""
    return [c for c in stream.split(b"\x00") if c]


def check_verdicts(decoder: p.Decoder, stream: bytes, got: list) -> None:
    """Every chunk was accepted or rejected once, and only chunks that re-encode exactly were accepted."""
    pieces = chunks_of(stream)
    assert decoder.accepted + sum(decoder.rejects.values()) == len(pieces), (decoder.rejects, len(pieces))
    valid = {piece for piece in pieces}
    for message in got:
        assert p.encode(message)[1:-1] in valid, message  # a whole valid frame on the wire, not a lucky parse


@FUZZ_SETTINGS
@given(noise=st.binary(max_size=2000), chunk=st.integers(1, 600))
def test_fuzz_random_bytes_never_raise_and_never_cost_the_next_frame(noise, chunk):
    decoder = p.Decoder()
    stream = noise + p.encode(GOOD)
    got = [m for i in range(0, len(stream), chunk) for m in decoder.feed(stream[i : i + chunk])]
    assert got and got[-1] == normalized(GOOD)
    assert set(decoder.rejects) <= set(p.REJECT_REASONS)
    check_verdicts(decoder, stream, got)


@FUZZ_SETTINGS
@given(
    index=st.integers(0, len(sample_messages()) - 1),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["flip", "drop", "insert"])), max_size=6),
    chunk=st.integers(1, 300),
)
def test_fuzz_mutated_frames_never_raise_and_never_cost_the_next_frame(index, edits, chunk):
    original = p.encode(sample_messages()[index])
    frame = bytearray(original)
    for position, value, kind in edits:
        at = position % len(frame)
        if kind == "flip":
            frame[at] ^= value or 1
        elif kind == "drop" and len(frame) > 1:
            del frame[at]
        else:
            frame.insert(at, value)
    decoder = p.Decoder()
    stream = bytes(frame) + p.encode(GOOD)
    got = [m for i in range(0, len(stream), chunk) for m in decoder.feed(stream[i : i + chunk])]
    assert got[-1] == normalized(GOOD)
    assert set(decoder.rejects) <= set(p.REJECT_REASONS)
    check_verdicts(decoder, stream, got)
    if bytes(frame) == original:
        assert got == [normalized(sample_messages()[index]), normalized(GOOD)]

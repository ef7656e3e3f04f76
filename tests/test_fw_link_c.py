"""The C serial link (firmware_bridge/c/auricle_link.c) against the Python one, byte for byte."""
from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as p
from fw_helpers import C_DIR, HARNESS_DIR, REPO, build, normalized, parse_spec, sample_messages, spec
from test_fw_protocol import CASES, FUZZ_EXAMPLES, GOOD

VECTORS = json.loads((REPO / "tests" / "data" / "fw_link_vectors.json").read_text())["vectors"]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "fw_link_harness"
    return build(out, [C_DIR / "auricle_link.c", HARNESS_DIR / "fw_link_harness.c"], flags=[f"-I{C_DIR}"])


def run(harness, mode: str, data: bytes) -> bytes:
    return subprocess.run([str(harness), mode], input=data, capture_output=True, check=True, timeout=30).stdout


def decode_with_c(harness, stream: bytes):
    lines = run(harness, "decode", stream).decode().splitlines()
    counts = [int(x) for x in lines[-1].split()[1:]]
    rejects = {reason: n for reason, n in zip(p.REJECT_REASONS, counts[1:]) if n}
    return [parse_spec(line) for line in lines[:-1]], counts[0], rejects


def test_link_compiles_as_strict_c99_and_as_cpp(tmp_path):
    build(tmp_path / "link.o", [C_DIR / "auricle_link.c"], link=False)
    build(tmp_path / "link_cpp.o", ["-x", "c++", C_DIR / "auricle_link.c"], cxx=True, link=False)


def test_link_uses_no_dynamic_allocation(tmp_path):
    obj = build(tmp_path / "link.o", [C_DIR / "auricle_link.c"], link=False)
    symbols = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout
    for name in ("malloc", "calloc", "realloc", "free"):
        assert f" {name}\n" not in symbols + "\n", symbols


def test_vectors_file_matches_python_encoder():
    assert [v["frame_hex"] for v in VECTORS] == [p.encode(parse_spec(v["spec"])).hex() for v in VECTORS]
    assert len(VECTORS) == len(sample_messages())


def test_c_encoder_matches_vectors(harness):
    specs = "".join(v["spec"] + "\n" for v in VECTORS).encode()
    assert run(harness, "encode", specs).decode().split() == [v["frame_hex"] for v in VECTORS]


def test_c_decodes_python_frames(harness):
    messages = sample_messages()
    got, accepted, rejects = decode_with_c(harness, b"".join(p.encode(m) for m in messages))
    assert got == [normalized(m) for m in messages] and accepted == len(messages) and rejects == {}


def test_python_decodes_c_frames(harness):
    messages = sample_messages()
    stream = run(harness, "raw", "".join(spec(m) + "\n" for m in messages).encode())
    decoder = p.Decoder()
    assert decoder.feed(stream) == [normalized(m) for m in messages] and decoder.rejects == {}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_c_decoder_rejects_like_python(harness, reason):
    stream = p.encode(p.Heartbeat(1)) + CASES[reason] + p.encode(GOOD)
    got, accepted, rejects = decode_with_c(harness, stream)
    assert got == [p.Heartbeat(1), normalized(GOOD)] and accepted == 2
    assert rejects == {reason: 1}


def test_c_and_python_agree_on_a_noisy_stream(harness, rng):
    # Valid frames mixed with every reject case, random noise and random corruption.
    pieces = []
    for i in range(200):
        pieces.append(p.encode(sample_messages()[i % len(sample_messages())]))
        if i % 3 == 0:
            pieces.append(list(CASES.values())[i % len(CASES)])
        if i % 5 == 0:
            pieces.append(rng.integers(0, 256, int(rng.integers(1, 40))).astype("uint8").tobytes())
    stream = bytearray(b"".join(pieces))
    for at in rng.integers(0, len(stream), 30):
        stream[at] ^= int(rng.integers(1, 256))
    decoder = p.Decoder()
    python_messages = decoder.feed(bytes(stream))
    c_messages, accepted, rejects = decode_with_c(harness, bytes(stream))
    assert c_messages == python_messages and accepted == decoder.accepted
    assert rejects == dict(decoder.rejects)
    assert decoder.accepted > 100 and sum(rejects.values()) > 50


_c_fuzz_tried = {"n": 0}


@settings(max_examples=max(50, FUZZ_EXAMPLES // 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    noise=st.lists(st.binary(max_size=80), max_size=6),
    flips=st.lists(st.tuples(st.integers(0, 100_000), st.integers(1, 255)), max_size=4),
)
def test_fuzz_c_and_python_decoders_agree(harness, noise, flips):
    _c_fuzz_tried["n"] += 1
    pieces = []
    for i, junk in enumerate(noise):
        pieces += [p.encode(sample_messages()[i % len(sample_messages())]), junk]
    stream = bytearray(b"".join(pieces) + p.encode(GOOD))
    body = len(stream) - len(p.encode(GOOD))  # leave the last frame intact
    for at, value in flips:
        if body:
            stream[at % body] ^= value
    decoder = p.Decoder()
    python_messages = decoder.feed(bytes(stream))
    c_messages, accepted, rejects = decode_with_c(harness, bytes(stream))
    assert python_messages[-1] == normalized(GOOD)
    assert c_messages == python_messages and rejects == dict(decoder.rejects)

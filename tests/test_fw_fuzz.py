"""Long fuzzing of both serial decoders: 1,000,000 inputs each, with properties that can fail.

Every input is a sample frame mutated (bytes flipped, dropped, inserted, or
runs overwritten) followed by a good frame. Properties:

- nothing raises or crashes (C: under AddressSanitizer and UBSan);
- every chunk between delimiters gets exactly one verdict (accepted or a counted reject);
- a mutated frame is accepted only if it is still a valid frame, checked
  independently of the decoder (Python: the message re-encodes to exactly those
  bytes; C: a separate COBS decoder and bitwise CRC-16 in the fuzz target);
- an unmutated frame is accepted as itself, and the good frame after it is always decoded.

The default suite runs 20,000 Python inputs; the slow suite runs 1,000,000
Python inputs (304 s measured on 2 busy shared cores; 20,000 take 2.7 s
alone) and libFuzzer for 1,000,000 runs. Seeds
are fixed and reported, so a failure replays.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import random

import pytest

from firmware_bridge import protocol as p
from fw_helpers import C_DIR, HARNESS_DIR, normalized, sample_messages
from test_fw_protocol import GOOD, check_verdicts

PY_SEED = 20261201
LIBFUZZER_SEED = 1
LONG_RUNS = 1_000_000


def mutate(frame: bytes, rng: random.Random) -> bytes:
    """1-4 random edits: flip a byte, drop one, insert one, or overwrite a run (the seed's delimiters too)."""
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        kind, at, value = rng.randrange(4), rng.randrange(len(data) + 1), rng.randrange(256)
        if kind == 0 and at < len(data):
            data[at] ^= value or 1
        elif kind == 1 and at < len(data) and len(data) > 1:
            del data[at]
        elif kind == 2:
            data.insert(at, value)
        else:
            data[at : at + 4] = rng.randbytes(4)
    return bytes(data)


def fuzz_python(count: int, seed: int = PY_SEED) -> dict:
    """Run ``count`` mutated inputs through fresh decoders; assert the properties; return tallies."""
    rng = random.Random(seed)
    frames = [p.encode(m) for m in sample_messages()]
    expected = [normalized(m) for m in sample_messages()]
    good, good_message = p.encode(GOOD), normalized(GOOD)
    tally = {"inputs": 0, "accepted_mutants": 0, "unchanged": 0}
    for _ in range(count):
        index = rng.randrange(len(frames))
        mutant = mutate(frames[index], rng)
        decoder = p.Decoder()
        got = decoder.feed(mutant) + decoder.feed(good)
        try:
            assert got and got[-1] == good_message
            check_verdicts(decoder, mutant + good, got)
            if mutant == frames[index]:
                tally["unchanged"] += 1
                assert got == [expected[index], good_message]
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, input {tally['inputs']}: mutant {mutant.hex()}: {exc}") from None
        tally["accepted_mutants"] += len(got) - 1
        tally["inputs"] += 1
    return tally


def test_python_decoder_fuzz_short():
    tally = fuzz_python(20_000)
    assert tally["inputs"] == 20_000


@pytest.mark.slow
def test_python_decoder_fuzz_one_million():
    started = time.monotonic()
    tally = fuzz_python(LONG_RUNS)
    print(f"python decoder: {tally} in {time.monotonic() - started:.0f} s (seed {PY_SEED})")
    assert tally["inputs"] == LONG_RUNS


@pytest.mark.slow
def test_c_decoder_under_libfuzzer(tmp_path):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (apt-get install clang): no libFuzzer")
    fuzzer = tmp_path / "fw_link_fuzz"
    build = subprocess.run(
        [clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined",
         f"-I{C_DIR}", str(C_DIR / "auricle_link.c"), str(HARNESS_DIR / "fw_link_fuzz.c"), "-o", str(fuzzer)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    corpus = tmp_path / "corpus"  # seeds: every sample frame, without its outer delimiters
    corpus.mkdir()
    for i, message in enumerate(sample_messages()):
        (corpus / f"seed{i:02d}").write_bytes(p.encode(message)[1:-1])
    started = time.monotonic()
    run = subprocess.run(
        [str(fuzzer), f"-runs={LONG_RUNS}", f"-seed={LIBFUZZER_SEED}", "-max_len=1100", "-max_total_time=600",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=900)
    tail = run.stderr[-3000:]
    assert run.returncode == 0, tail  # a property failure aborts with the input saved under tmp_path
    done = re.search(r"Done (\d+) runs", run.stderr)
    assert done and int(done.group(1)) >= LONG_RUNS, tail
    print(f"libFuzzer: {done.group(0)} in {time.monotonic() - started:.0f} s (seed {LIBFUZZER_SEED}); "
          f"corpus {len(os.listdir(corpus))} files")

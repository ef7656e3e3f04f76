"""Helpers for the firmware-bridge tests: compile the C sources, speak the harness's spec lines."""
from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from firmware_bridge import protocol as p

REPO = pathlib.Path(__file__).resolve().parents[1]
C_DIR = REPO / "firmware_bridge" / "c"
STUBS = REPO / "examples" / "firmware" / "stubs"
HARNESS_DIR = REPO / "tests" / "c"
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
CXX_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror"]


def compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def build(out: pathlib.Path, sources, *, cxx: bool = False, flags=(), link: bool = True) -> pathlib.Path:
    """Compile ``sources`` into ``out`` (an executable, or an object with link=False); fail with gcc's message."""
    command = [compiler("g++" if cxx else "gcc"), *(CXX_FLAGS if cxx else C_FLAGS), *flags]
    command += [*map(str, sources), "-o", str(out)] + ([] if link else ["-c"]) + (["-lm"] if link else [])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"compile failed: {' '.join(command)}\n{result.stderr}")
    return out


def _hex(text: str) -> str:
    return text.encode().hex() or "-"


def _unhex(text: str) -> str:
    return "" if text == "-" else bytes.fromhex(text).decode()


def spec(message) -> str:
    """A message as a line of tests/c/fw_link_harness.c's spec format."""
    if isinstance(message, p.Hello):
        labels = " ".join(_hex(label) for label in message.labels)
        return f"HELLO {message.seq} {message.labels_hash} {_hex(message.name)} {len(message.labels)} {labels}".rstrip()
    if isinstance(message, p.Heartbeat):
        return f"HEARTBEAT {message.seq} {message.uptime_ms}"
    if isinstance(message, p.DetectionMessage):
        return f"DETECTION {message.seq} {message.label_index} {message.score_u8} {message.timestamp_ms}"
    if isinstance(message, p.AudioChunk):
        return f"AUDIO {message.seq} {message.first_sample} {len(message.samples)} " + " ".join(map(str, message.samples))
    if isinstance(message, p.Ack):
        return f"ACK {message.seq} {message.acked_seq} {message.acked_type}"
    if isinstance(message, p.Error):
        return f"ERROR {message.seq} {message.code} {_hex(message.text)}"
    raise TypeError(message)


def parse_spec(line: str):
    """The message a spec line describes (inverse of ``spec``)."""
    kind, *fields = line.split()
    seq = int(fields[0])
    if kind == "HELLO":
        count = int(fields[3])
        return p.Hello(_unhex(fields[2]), tuple(_unhex(f) for f in fields[4 : 4 + count]), int(fields[1]), seq)
    if kind == "HEARTBEAT":
        return p.Heartbeat(int(fields[1]), seq)
    if kind == "DETECTION":
        return p.DetectionMessage(int(fields[1]), int(fields[2]) / 255.0, int(fields[3]), seq)
    if kind == "AUDIO":
        return p.AudioChunk(int(fields[1]), tuple(int(f) for f in fields[3 : 3 + int(fields[2])]), seq)
    if kind == "ACK":
        return p.Ack(int(fields[1]), int(fields[2]), seq)
    if kind == "ERROR":
        return p.Error(int(fields[1]), _unhex(fields[2]), seq)
    raise ValueError(line)


def normalized(message):
    """Messages compare equal after a trip through the wire (score as its u8 step)."""
    if isinstance(message, p.DetectionMessage):
        return p.DetectionMessage(message.label_index, message.score_u8 / 255.0, message.timestamp_ms, message.seq)
    return message


def sample_messages():
    """Messages covering every type and the byte patterns COBS treats specially."""
    return [
        p.Hello("tiny", ("yes", "no", "_silence_"), seq=0),
        p.Hello("", (), seq=1),
        p.Hello("kws-ä", ("on", "off"), seq=2),
        p.Heartbeat(0, seq=3),
        p.Heartbeat(0xFFFFFFFF, seq=0xFFFF),
        p.DetectionMessage(0, 0.0, 0, seq=4),
        p.DetectionMessage(2, 1.0, 123456, seq=5),
        p.DetectionMessage(1, 200 / 255, 5000, seq=256),
        p.AudioChunk(0, (0,), seq=6),
        p.AudioChunk(16000, tuple(range(-126, 126)), seq=7),  # 252 samples: payload over 254 bytes
        p.AudioChunk(0x01010101, (257,) * 252, seq=257),  # 512-byte payload, no zero bytes: full COBS groups
        p.AudioChunk(1, (-32768, 32767, -1, 256), seq=9),
        p.Ack(9, 4, seq=10),
        p.Error(0, "", seq=11),
        p.Error(255, "arena too small", seq=12),
    ]

"""Helpers for the firmware-bridge tests: compile the C sources, speak the harness's spec lines."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

from firmware_bridge import protocol as p

REPO = pathlib.Path(__file__).resolve().parents[1]
C_DIR = REPO / "firmware_bridge" / "c"
# TFLite Micro sources: $TFLM_DIR, else ../shared/third_party beside the clone (CI has it there).
TFLM_DEFAULT = REPO.parent / "shared" / "third_party"
# Compiled TFLM objects, cached between runs (git ignores build/).
BUILD_DIR = REPO / "build" / "tflm"
HARNESS_DIR = REPO / "tests" / "c"
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
CXX_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror"]


def compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def tflm_dir() -> pathlib.Path:
    """The TFLM source folder the firmware tests build against; skip (naming it) where there is none."""
    from firmware_bridge.build import TFLM_DIR_ENV, find_tflm
    from sdk.errors import ConfigError

    try:
        return find_tflm(os.environ.get(TFLM_DIR_ENV) or TFLM_DEFAULT)
    except ConfigError as exc:
        pytest.skip(f"no TFLite Micro sources: {exc}")


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


ZOO_LABELS = [f"word{i}" for i in range(10)] + ["_silence_", "_unknown_"]  # Speech Commands' 12 classes


def zoo_bundle_paths() -> dict[str, pathlib.Path]:
    """Every zoo model, untrained, at the default front end's input, as an int8 artifact.

    Converted once (bc_resnet takes ~45 s) and kept in build/zoo under a digest
    of the code and TensorFlow version that made it.
    """
    import hashlib
    import inspect

    import numpy as np
    import tensorflow as tf

    from quantize.train import zoo
    from quantize.export.int8 import to_tflite
    from sdk import Bundle, FrontEndConfig

    fe = FrontEndConfig()
    code = b"".join(p.read_bytes() for p in (REPO / "quantize" / "train" / "zoo.py", REPO / "quantize" / "export" / "int8.py"))
    code += inspect.getsource(zoo_bundle_paths).encode() + repr(ZOO_LABELS).encode() + tf.__version__.encode()
    digest = hashlib.sha256(code).hexdigest()[:12]
    folder = REPO / "build" / "zoo"
    folder.mkdir(parents=True, exist_ok=True)
    calibration = np.random.default_rng(0).normal(-6, 3, (32, fe.clip_frames, fe.num_features)).astype(np.float32)
    paths = {}
    for name in sorted(zoo.MODELS):
        path = folder / f"{name}-{digest}.tflite"
        if not path.exists():
            tf.random.set_seed(0)
            model = zoo.build(name, (fe.clip_frames, fe.num_features), len(ZOO_LABELS))
            bundle = Bundle.create(to_tflite(model, mode="int8", calibration=calibration), frontend=fe,
                                   labels=ZOO_LABELS, name=name)
            part = folder / f"{name}-{digest}.part.tflite"
            bundle.save(part)
            part.replace(path)  # atomic: a parallel session never reads half a file
        paths[name] = path
    return paths


def firmware_stream(folder: pathlib.Path, *, seed: int = 0):
    """About 20 s of 16-bit audio for the firmware: real Speech Commands clips where present, else espeak-ng.

    Returns ``(int16 samples at 16 kHz, description)``: 6 "yes", 8 other words and
    2 background-noise clips in a seeded order, 0.25 s of silence between clips.
    """
    import csv

    import numpy as np

    rng = np.random.default_rng(seed)
    gap = np.zeros(4000, np.float32)
    data = pathlib.Path(os.environ.get("AURICLE_DATA", REPO.parent / "shared" / "data")) / "speech_commands_v2_test"
    if (data / "labels.csv").exists():
        from sdk.audio import load_audio

        rows = list(csv.DictReader((data / "labels.csv").open()))
        pick = lambda label, n: sorted(r["path"] for r in rows if r["label"] == label)[:n]  # noqa: E731
        names = pick("yes", 6) + pick("no", 2) + pick("left", 2) + pick("_unknown_", 4) + pick("_silence_", 2)
        clips = [load_audio(data / name, 16000) for name in names]
        description = f"{len(names)} Speech Commands test clips ({data})"
    else:
        import stream_model

        if not stream_model.have_espeak():
            pytest.skip("neither ../shared/data nor espeak-ng for the firmware's audio")
        words = ["yes"] * 6 + ["no", "left", "seven", "house", "up", "down", "go", "stop"]
        clips = [stream_model.speak(w, voice=stream_model.HELD_OUT_VOICE) for w in words]
        clips += [rng.normal(0, 0.01, 16000).astype(np.float32)] * 2
        description = "espeak-ng words (held-out voice) and noise"
    order = rng.permutation(len(clips))
    audio = np.concatenate([part for i in order for part in (clips[i], gap)])
    return np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16), description

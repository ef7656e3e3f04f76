"""The Microphone through real PortAudio, without a sound card.

Two devices users can also build:

* an ALSA ``type file`` PCM (from an ``.asoundrc`` in a temporary HOME) whose
  ``infile`` is raw PCM of a spoken "yes": PortAudio's ALSA host API reads it
  as a capture device. Its ``null`` slave has no clock, so it delivers audio
  faster than real time; the test gives the reader a queue long enough for the
  whole recording (and a second test uses that speed to prove drops are counted).
* JACK's dummy driver (``jackd --no-realtime -d dummy -r 16000 -p 320``): a
  real-time, silent device with a fixed rate, which refuses other rates.

Debian packages: libportaudio2, libasound2 (ALSA), jackd2 (jackd, jack_wait);
pip: sounddevice. Each probe runs in a fresh process (tests/stream_mic_probe.py)
because PortAudio scans devices only when it starts.
"""
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stream_model
from sdk.audio import resample
from sdk.bundle import Bundle

PROBE = Path(__file__).with_name("stream_mic_probe.py")
RATE = 16000
DEVICE_RATE = 44100  # what PortAudio reports as the ALSA file device's default rate


def probe(*args, env=None, timeout_s=60):
    completed = subprocess.run(
        [sys.executable, str(PROBE), *map(str, args)],
        capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})},
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"probe printed no result:\n{completed.stdout}\n{completed.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):]), completed.stderr


def need_portaudio():
    pytest.importorskip("sounddevice", reason="sounddevice is not installed (pip install 'auricle[mic]')")
    if ctypes.util.find_library("portaudio") is None:
        pytest.skip("PortAudio is not installed (apt-get install libportaudio2)")


@pytest.fixture(scope="module")
def yes_model_path():
    if not stream_model.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    pytest.importorskip("tensorflow")
    path = stream_model.yes_bundle_path()
    Bundle.load(path)
    return path


@pytest.fixture(scope="module")
def alsa_file_home(tmp_path_factory):
    """A HOME whose .asoundrc defines capture device ``auricle_kw_in`` playing a recorded "yes"."""
    need_portaudio()
    if ctypes.util.find_library("asound") is None:
        pytest.skip("ALSA library missing (apt-get install libasound2)")
    if not stream_model.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    home = tmp_path_factory.mktemp("alsa-home")
    rng = np.random.default_rng(7)
    samples = stream_model.noise(rng, 5 * RATE, -45)
    clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=170) * 0.5
    start = int(1.5 * RATE)
    samples[start : start + clip.shape[0]] += clip
    # Float32 at 44.1 kHz: PortAudio opens a plugin device as float32 at 44.1 kHz by default, and the
    # file plugin copies the infile's bytes as they are. (An S16 file behind a `plug` conversion
    # came back with skipped periods under PortAudio's mmap reads, so the test avoids that setup.)
    raw = home / "keyword.f32"
    resample(samples, RATE, DEVICE_RATE).astype("<f4").tofile(raw)
    (home / ".asoundrc").write_text(
        f"""
pcm.auricle_kw_in {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
"""
    )
    return {"HOME": str(home), "word_end_s": (start + clip.shape[0]) / RATE}


@pytest.fixture(scope="module")
def jack_server():
    """A JACK dummy server of our own (unique name), stopped after the module."""
    need_portaudio()
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("JACK is not installed (apt-get install jackd2)")
    name = f"auricle-test-{os.getpid()}"
    server = subprocess.Popen(
        ["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", str(RATE), "-p", "320"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        ready = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"], capture_output=True, timeout=20)
        if ready.returncode != 0 or server.poll() is not None:
            pytest.skip(f"jackd dummy server did not start: {server.stderr.read().decode()[-500:] if server.poll() is not None else ready.stdout}")
        yield {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_alsa_file_device_detects_the_keyword(alsa_file_home, yes_model_path):
    env = {"HOME": alsa_file_home["HOME"]}
    result, stderr = probe("detect", "auricle_kw_in", yes_model_path, 4.0, 60.0, env=env)
    assert "error" not in result, result
    assert any(d["name"] == "auricle_kw_in" for d in result["devices"])
    assert result["sample_rate"] == DEVICE_RATE  # opened at its native rate; the Detector resamples
    assert [e["label"] for e in result["events"]] == ["yes"], stderr[-2000:]
    assert abs(result["events"][0]["time_s"] - alsa_file_home["word_end_s"]) <= 0.5
    assert result["stats"]["audio_s"] == pytest.approx(4.0)


def test_alsa_reader_that_falls_behind_counts_and_logs_drops(alsa_file_home):
    result, stderr = probe("slow-reader", "auricle_kw_in", env={"HOME": alsa_file_home["HOME"]})
    assert "error" not in result, result
    assert result["source"]["dropped_blocks"] > 0
    assert "audio lost" in stderr and "dropped" in stderr


def test_jack_dummy_device_streams_in_real_time(jack_server, yes_model_path):
    result, stderr = probe("detect", "system", yes_model_path, 1.5, env=jack_server)
    assert "error" not in result, result
    assert result["sample_rate"] == RATE
    assert result["events"] == []  # the dummy driver is silent
    assert result["wall_s"] >= 1.2  # paced by the device clock, not as fast as possible
    assert result["stats"]["audio_s"] == pytest.approx(1.5)
    assert result["stats"]["inferences"] > 0
    # A loaded machine may overflow the non-realtime server; whatever happened is reported, not lost.
    assert result["stats"]["overflows"] == result["source"]["overflows"]


def test_jack_refuses_another_rate(jack_server):
    result, _ = probe("open", "system", 48000, env=jack_server)
    assert result["error"] == "DeviceError"
    assert "refuses sample_rate=48000" in result["message"]
    assert "default rate is 16000 Hz" in result["message"]
    result, _ = probe("open", "system", "native", env=jack_server)
    assert "error" not in result, result
    assert result["samples"] == pytest.approx(0.2 * RATE, abs=1)


def test_unknown_device_lists_the_available_ones(jack_server):
    result, _ = probe("open", "no-such-microphone", "native", env=jack_server)
    assert result["error"] == "DeviceError"
    assert "no input device named like 'no-such-microphone'" in result["message"]
    assert "system (JACK Audio Connection Kit)" in result["message"]
    result, _ = probe("open", 42, "native", env=jack_server)
    assert "input device 42 does not exist" in result["message"]

"""The C front end (firmware_bridge/c/auricle_frontend.c) against sdk.frontend on speech."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from conftest import synthesize
from fw_helpers import C_DIR, HARNESS_DIR, build
from sdk.audio import load_audio
from sdk.frontend import FrontEndConfig, features

# Largest |C - numpy| allowed in the log domain (natural log). Measured: 8e-5
# for log-mel, 5e-5 for MFCC on espeak speech; float32 FFT vs numpy's float64.
TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    out = tmp_path_factory.mktemp("c") / "fw_frontend_harness"
    return build(out, [C_DIR / "auricle_frontend.c", HARNESS_DIR / "fw_frontend_harness.c"], flags=[f"-I{C_DIR}", "-O2"])


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return tmp_path_factory.mktemp("fe") / "speech.wav"


def c_features(harness, samples: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    args = [cfg.sample_rate, cfg.window_samples, cfg.hop_samples, cfg.n_fft, cfg.n_mels, cfg.n_mfcc,
            cfg.fmin_hz, cfg.fmax_hz, repr(cfg.log_floor)]
    out = subprocess.run([str(harness), *map(str, args)], input=np.asarray(samples, np.float32).tobytes(),
                         capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(out, np.float32).reshape(-1, cfg.num_features)


@pytest.mark.parametrize(
    "cfg",
    [FrontEndConfig(), FrontEndConfig(n_mfcc=13), FrontEndConfig(window_ms=25, hop_ms=10, n_fft=512, n_mels=32, fmin_hz=60)],
    ids=["logmel40", "mfcc13", "logmel32-25ms"],
)
def test_c_front_end_matches_sdk_frontend(harness, speech, cfg):
    if not speech.exists():
        synthesize("yes no up down left right", speech)
    audio = load_audio(speech, cfg.sample_rate)
    reference = features(audio, config=cfg)
    got = c_features(harness, audio, cfg)
    assert got.shape == reference.shape and reference.shape[0] > 50
    assert np.abs(got - reference).max() < TOLERANCE
    assert np.ptp(reference) > 10  # real speech: a wide range, so the match means something


def test_c_front_end_refuses_a_non_power_of_two_fft(harness):
    cfg = FrontEndConfig(n_fft=500)
    result = subprocess.run([str(harness), *map(str, [16000, 480, 320, 500, 40, 0, 20.0, 7600.0, 1e-6])],
                            input=b"", capture_output=True)
    assert result.returncode == 3 and b"bad front-end config" in result.stderr
    assert cfg.n_fft == 500  # sdk accepts it; the C FFT needs a power of two (documented)

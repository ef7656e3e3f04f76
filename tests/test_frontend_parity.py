"""The training side's TensorFlow front end is held to the runtime's numpy one."""
import numpy as np
import pytest

from conftest import tone
from sdk import FrontEndConfig, features, load_audio

pytest.importorskip("tensorflow")
from quantize.data.tf_features import tf_features  # noqa: E402

TOLERANCE = 1e-3  # max abs difference on log-mel / MFCC values
CONFIGS = [
    FrontEndConfig(),
    FrontEndConfig(n_mfcc=10, window_ms=40, hop_ms=20, n_fft=1024),
    FrontEndConfig(sample_rate=8000, n_fft=256, fmax_hz=4000, n_mels=32),
]


def synthetic_signals(sample_rate: int) -> dict:
    rng = np.random.default_rng(7)
    t = np.arange(sample_rate) / sample_rate
    return {
        "silence": np.zeros(sample_rate, np.float32),
        "tone": tone(1234.5, 1.0, sample_rate),
        "chirp": (0.3 * np.sin(2 * np.pi * (100 + 1500 * t) * t)).astype(np.float32),
        "loud_noise": rng.uniform(-1, 1, sample_rate).astype(np.float32),
        "quiet_noise": rng.normal(0, 1e-4, sample_rate).astype(np.float32),
        "clicks": (np.arange(sample_rate) % 997 == 0).astype(np.float32),
    }


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.sample_rate}Hz-{c.n_mfcc or c.n_mels}")
def test_synthetic_signals(cfg, speech_wav):
    signals = synthetic_signals(cfg.sample_rate)
    signals["espeak_yes"] = load_audio(speech_wav, cfg.sample_rate)
    for name, x in signals.items():
        diff = np.abs(features(x, config=cfg) - tf_features(x, config=cfg).numpy()).max()
        assert diff <= TOLERANCE, f"{name}: max abs difference {diff:.2e}"


def test_batched_tf_features_match_per_clip():
    cfg = FrontEndConfig()
    batch = np.stack([tone(f, 1.0) for f in (200, 900, 3000)])
    np.testing.assert_allclose(
        tf_features(batch, config=cfg).numpy(), np.stack([features(x, config=cfg) for x in batch]), atol=TOLERANCE
    )


def test_real_speech_music_and_noise(shared_data):
    paths = sorted((shared_data / "speech_commands_v2_test").glob("*/*.wav"))[::60]
    paths += sorted((shared_data / "fsdd").rglob("*.wav"))[::250]
    paths += sorted((shared_data / "musan_subset").rglob("*.wav"))[:3]
    paths += sorted((shared_data / "esc50").rglob("*.wav"))[::40]
    assert len(paths) > 30
    for cfg in CONFIGS:
        worst = 0.0
        for path in paths:
            x = load_audio(path, cfg.sample_rate)[: 4 * cfg.sample_rate]
            worst = max(worst, float(np.abs(features(x, config=cfg) - tf_features(x, config=cfg).numpy()).max()))
        assert worst <= TOLERANCE, f"{cfg}: max abs difference {worst:.2e}"

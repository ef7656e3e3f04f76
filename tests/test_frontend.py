"""The numpy front end: framing, values worked by hand, streaming equals whole clip."""
import numpy as np
import pytest

from conftest import tone
from sdk import ConfigError, FrontEnd, FrontEndConfig, features
from sdk.frontend import dct_matrix, mel_filterbank

CONFIGS = [
    FrontEndConfig(),
    FrontEndConfig(n_mfcc=13),
    FrontEndConfig(sample_rate=8000, window_ms=32, hop_ms=16, n_fft=256, n_mels=32, fmax_hz=4000),
    FrontEndConfig(window_ms=25, hop_ms=10, n_mels=64, clip_s=1.5),
]


@pytest.mark.parametrize("num_samples, expected", [(0, 0), (479, 0), (480, 1), (799, 1), (800, 2), (16000, 49)])
def test_frame_count_is_valid_framing(num_samples, expected):
    cfg = FrontEndConfig()  # 480-sample window, 320-sample hop
    assert cfg.frames_in(num_samples) == expected
    assert features(np.zeros(num_samples, np.float32), config=cfg).shape == (expected, 40)


def test_silence_gives_the_log_floor():
    cfg = FrontEndConfig()
    out = features(np.zeros(16000, np.float32), config=cfg)
    np.testing.assert_allclose(out, np.log(cfg.log_floor), rtol=1e-6)


def test_tone_energy_lands_in_the_filter_around_its_frequency():
    cfg = FrontEndConfig()
    out = features(tone(1000.0, 1.0), config=cfg)
    centres_hz = (mel_filterbank(cfg).T @ (np.arange(cfg.n_fft // 2 + 1) * cfg.sample_rate / cfg.n_fft)) / mel_filterbank(
        cfg
    ).sum(axis=0)
    peak = int(np.argmax(out.mean(axis=0)))
    assert abs(centres_hz[peak] - 1000.0) < 60.0


def test_one_frame_by_hand():
    """A frame of a constant signal: only the DC bin has power, computed directly."""
    cfg = FrontEndConfig(window_ms=4, hop_ms=4, n_fft=64, n_mels=4, fmin_hz=0, fmax_hz=8000, clip_s=0.004)
    x = np.full(cfg.window_samples, 0.5, np.float32)  # 64 samples
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    dc_power = (0.5 * window.sum()) ** 2  # all other bins of a periodic Hann on a constant are 0 except bin 1
    spectrum = np.fft.rfft(x * window, n=64)
    power = np.abs(spectrum) ** 2
    assert power[0] == pytest.approx(dc_power, rel=1e-5)
    expected = np.log(power @ mel_filterbank(cfg) + cfg.log_floor)
    np.testing.assert_allclose(features(x, config=cfg)[0], expected, rtol=1e-5)


def test_mfcc_is_orthonormal_dct_of_log_mel():
    basis = dct_matrix(40, 40)
    np.testing.assert_allclose(basis.T @ basis, np.eye(40), atol=1e-5)
    cfg_mel, cfg_mfcc = FrontEndConfig(), FrontEndConfig(n_mfcc=13)
    x = tone(440, 1.0) + np.random.default_rng(0).normal(0, 0.01, 16000).astype(np.float32)
    np.testing.assert_allclose(
        features(x, config=cfg_mfcc), features(x, config=cfg_mel) @ dct_matrix(40, 13), rtol=1e-5, atol=1e-4
    )


def test_every_mel_filter_covers_some_bins():
    for cfg in CONFIGS:
        weights = mel_filterbank(cfg)
        assert weights.shape == (cfg.n_fft // 2 + 1, cfg.n_mels)
        assert np.all(weights.sum(axis=0) > 0)
    assert np.all(mel_filterbank(FrontEndConfig()).max(axis=0) > 0.5)  # default: every filter wider than a bin


def test_filters_between_fft_bins_are_refused():
    with pytest.raises(ConfigError, match=r"mel filters \[0, 1.*fall between FFT bins"):
        FrontEndConfig(n_mels=128, n_fft=256, window_ms=16)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.sample_rate}Hz-{c.n_mfcc or c.n_mels}")
@pytest.mark.parametrize("seed", [0, 1])
def test_streaming_equals_whole_clip(cfg, seed):
    rng = np.random.default_rng(seed)
    clip = (rng.normal(0, 0.1, int(2.3 * cfg.sample_rate)) + tone(300, 2.3, cfg.sample_rate)).astype(np.float32)
    whole = features(clip, config=cfg)
    stream = FrontEnd(cfg)
    pieces, position = [], 0
    while position < clip.size:
        size = int(rng.integers(1, 2 * cfg.window_samples))
        pieces.append(stream.push(clip[position : position + size]))
        position += size
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape
    assert stream.frames_emitted == whole.shape[0]
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-5)


def test_streaming_reset_starts_over():
    cfg = FrontEndConfig()
    stream = FrontEnd(cfg)
    stream.push(np.ones(1000, np.float32))
    stream.reset()
    np.testing.assert_array_equal(stream.push(np.zeros(480, np.float32)), features(np.zeros(480, np.float32), config=cfg))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 0}, "sample_rate=0 must be positive"),
        ({"hop_ms": -10}, "hop_ms=-10 must be positive"),
        ({"window_ms": 40, "n_fft": 256}, "window_ms=40 is 640 samples, more than n_fft=256"),
        ({"fmax_hz": 9000}, "fmax_hz <= 8000"),
        ({"n_mfcc": 50}, "n_mfcc=50 must be between 0 and n_mels=40"),
        ({"clip_s": 0.01}, "clip_s=0.01 is shorter than one window"),
        ({"log_floor": float("nan")}, "log_floor=nan must be positive"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FrontEndConfig(**kwargs)


def test_unknown_parameter_in_stored_config_is_named():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['mel_bins'\]"):
        FrontEndConfig.from_dict({"mel_bins": 40})


def test_stereo_samples_are_refused_by_features():
    with pytest.raises(ConfigError, match=r"must be mono.*\(100, 2\)"):
        features(np.zeros((100, 2), np.float32), config=FrontEndConfig())

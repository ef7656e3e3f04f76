"""quantize.data.augment: SNR mixing, shift, gain, reverb, synthetic noise, SpecAugment."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile

from quantize.data.augment import (
    AugmentConfig,
    Augmenter,
    mix_at_snr,
    reverberate,
    room_impulse_responses,
    spec_augment,
    synthetic_noise,
    time_shift,
    write_synthetic_noise,
)
from quantize.data.clips import Clip
from quantize.data.windows import load_features
from sdk.errors import ConfigError
from sdk.frontend import FrontEndConfig

RATE = 16000
QUIET = dict(
    snr_db=(0.0, 0.0), noise_prob=0.0, shift_s=0.0, gain_db=(0.0, 0.0), reverb_prob=0.0, spec_time_masks=0, spec_freq_masks=0
)


def only(**changes) -> AugmentConfig:
    return AugmentConfig(**{**QUIET, **changes})


def snr_db(signal, mixed) -> float:
    noise = mixed.astype(np.float64) - signal
    return 10 * np.log10(np.mean(signal.astype(np.float64) ** 2) / np.mean(noise**2))


def burst(onset: int, length: int = 16000) -> np.ndarray:
    """Silence, then a 1 kHz burst from sample ``onset``."""
    out = np.zeros(length, np.float32)
    out[onset : onset + 3000] = 0.3 * np.cos(2 * np.pi * 1000 / RATE * np.arange(3000))  # starts at its peak
    return out


def onset_of(samples: np.ndarray) -> int:
    return int(np.argmax(np.abs(samples) > 1e-3))


@pytest.mark.parametrize("target_db", [-5.0, 0.0, 10.0, 25.0])
def test_mix_at_snr_hits_target(rng, target_db):
    speech = burst(4000)
    noise = rng.standard_normal(16000).astype(np.float32)
    assert snr_db(speech, mix_at_snr(speech, noise, target_db)) == pytest.approx(target_db, abs=0.5)


def test_augmenter_mixes_folder_noise_at_snr(tmp_path, rng):
    noise_dir = tmp_path / "noise" / "nested"
    noise_dir.mkdir(parents=True)
    soundfile.write(noise_dir / "hiss.wav", 0.2 * rng.standard_normal(44100 * 3), 44100)
    soundfile.write(noise_dir / "silent.wav", np.zeros(16000), 16000)  # ignored: nothing to mix
    augmenter = Augmenter(only(noise_dirs=[str(tmp_path / "noise")], noise_prob=1.0, snr_db=(3.0, 12.0)), RATE)
    assert augmenter.noise_names == [str(noise_dir / "hiss.wav")]
    speech = burst(5000)
    measured = [snr_db(speech, augmenter(speech, np.random.default_rng(i))) for i in range(40)]
    assert 3.0 - 0.5 <= min(measured) and max(measured) <= 12.0 + 0.5
    assert max(measured) - min(measured) > 4  # drawn from the range, not one value


def test_augmenter_bad_noise_folders(tmp_path):
    with pytest.raises(ConfigError, match="noise folder .*nowhere does not exist"):
        Augmenter(only(noise_dirs=[str(tmp_path / "nowhere")]), RATE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="noise folder .*empty has no audio files"):
        Augmenter(only(noise_dirs=[str(tmp_path / "empty")]), RATE)


def test_time_shift_moves_onset_exactly():
    signal = burst(4000)
    assert onset_of(time_shift(signal, 800)) == 4800
    assert onset_of(time_shift(signal, -1500)) == 2500
    assert time_shift(signal, 800).shape == signal.shape
    assert not time_shift(signal, 20000).any()


def test_augmenter_shift_within_range():
    augmenter = Augmenter(only(shift_s=0.1), RATE)
    moves = [onset_of(augmenter(burst(6000), np.random.default_rng(i))) - 6000 for i in range(60)]
    assert max(np.abs(moves)) <= 1600
    assert min(moves) < -800 and max(moves) > 800  # both directions, most of the range


def test_gain_and_no_clipping():
    signal = burst(2000)
    out = Augmenter(only(gain_db=(6.0, 6.0)), RATE)(signal, np.random.default_rng(0))
    np.testing.assert_allclose(out, signal * 10 ** (6 / 20), rtol=1e-5)
    loud = Augmenter(only(gain_db=(20.0, 20.0)), RATE)(signal, np.random.default_rng(0))
    assert np.max(np.abs(loud)) == pytest.approx(1.0)  # scaled down, not clipped
    np.testing.assert_allclose(loud / np.max(np.abs(loud)), signal / np.max(np.abs(signal)), atol=1e-6)


def test_reverb_adds_a_decaying_tail():
    rirs = room_impulse_responses(3, RATE, seed=5)
    assert len(rirs) == 3 and all(abs(float(np.sum(r**2)) - 1) < 1e-4 for r in rirs)
    np.testing.assert_array_equal(rirs[0], room_impulse_responses(3, RATE, seed=5)[0])
    click = np.zeros(16000, np.float32)
    click[1000] = 0.5
    wet = reverberate(click, rirs[0])
    assert onset_of(wet) == 1000  # the direct path stays where it was
    tail = wet[1100:8000]
    assert np.sqrt(np.mean(tail**2)) > 1e-4  # energy after the click
    early, late = np.mean(wet[1100:2000] ** 2), np.mean(wet[5000:8000] ** 2)
    assert late < early  # and it decays
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(click**2)), rel=1e-3)
    augmenter = Augmenter(only(reverb_prob=1.0, rir_bank_size=2), RATE)
    assert not np.allclose(augmenter(burst(4000), np.random.default_rng(0)), burst(4000), atol=1e-3)


def band_db(samples, low_hz, high_hz):
    freqs, psd = scipy.signal.welch(samples, RATE, nperseg=4096)
    return 10 * np.log10(np.mean(psd[(freqs >= low_hz) & (freqs < high_hz)]))


@pytest.mark.parametrize("kind, drop_db", [("white", 0.0), ("pink", 9.0), ("brown", 18.0)])
def test_synthetic_noise_spectral_slope(kind, drop_db, rng):
    noise = synthetic_noise(kind, RATE * 8, RATE, rng)
    assert np.sqrt(np.mean(noise**2)) == pytest.approx(0.1, rel=1e-3)
    # Three octaves up: white stays level, pink falls 3 dB/octave, brown 6 dB/octave.
    assert band_db(noise, 200, 400) - band_db(noise, 1600, 3200) == pytest.approx(drop_db, abs=2.0)


def test_synthetic_hum_and_default_augmenter(rng, tmp_path):
    hum = synthetic_noise("hum", RATE * 4, RATE, rng)
    freqs, psd = scipy.signal.welch(hum, RATE, nperseg=8192)
    assert freqs[np.argmax(psd)] % 50 < 3 or freqs[np.argmax(psd)] % 60 < 3
    with pytest.raises(ConfigError, match="kind='purple'"):
        synthetic_noise("purple", 100, RATE, rng)
    augmenter = Augmenter(AugmentConfig(reverb_prob=0.0), RATE)  # no noise folder: generated noise
    assert augmenter.noise_names == ["synthetic:white", "synthetic:pink", "synthetic:brown", "synthetic:hum"]
    paths = write_synthetic_noise(tmp_path, seconds=2)
    assert [p.name for p in paths] == ["white.wav", "pink.wav", "brown.wav", "hum.wav"]
    assert soundfile.info(str(paths[0])).duration == pytest.approx(2.0)


def test_silent_clip_gets_absolute_noise():
    augmenter = Augmenter(only(noise_prob=1.0), RATE)
    out = augmenter(np.zeros(16000, np.float32), np.random.default_rng(0))
    level_db = 20 * np.log10(np.sqrt(np.mean(out**2)))
    assert -61 < level_db < -19


def masked_runs(mask_row: np.ndarray) -> list[int]:
    """Lengths of runs of True."""
    padded = np.concatenate([[0], mask_row.astype(int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(edges[1::2] - edges[::2])


def test_spec_augment_time_masks_count_and_width(rng):
    batch = rng.normal(-5, 2, (400, 49, 40)).astype(np.float32)
    before = batch.copy()
    out = spec_augment(batch, rng, only(spec_time_masks=1, spec_time_mask_frames=5, spec_freq_masks=0))
    np.testing.assert_array_equal(batch, before)
    changed = (out != batch).all(axis=2)  # whole frames masked
    assert not ((out != batch).any(axis=2) & ~changed).any()
    widths = [masked_runs(row) for row in changed]
    assert all(len(w) == 1 for w in widths)
    assert sorted({w[0] for w in widths}) == [1, 2, 3, 4, 5]
    row = 0
    np.testing.assert_allclose(out[row][changed[row]], batch[row].mean(), rtol=1e-5)


def test_spec_augment_freq_masks_and_many(rng):
    batch = rng.normal(0, 1, (300, 49, 40)).astype(np.float32)
    out = spec_augment(batch, rng, only(spec_time_masks=0, spec_freq_masks=2, spec_freq_mask_bins=4))
    bins = (out != batch).all(axis=1)
    assert not (out != batch)[:, :, ~bins.any(axis=0)].any()
    runs = [masked_runs(row) for row in bins]
    assert all(1 <= len(r) <= 2 and sum(r) <= 8 and max(r) <= 8 for r in runs)
    assert sum(len(r) == 2 for r in runs) > 150  # usually two separate bands
    assert max(bins.sum(axis=1)) == 8 and min(bins.sum(axis=1)) >= 1
    np.testing.assert_array_equal(spec_augment(batch, rng, only()), batch)
    with pytest.raises(ConfigError, match="not \\(n, frames, features\\)"):
        spec_augment(batch[0], rng, only())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"snr_db": (20, 5)}, r"snr_db=\(20, 5\) must be \(low, high\)"),
        ({"noise_prob": 1.5}, "noise_prob=1.5 must be a probability"),
        ({"noise_dirs": "noise/"}, "must be a list of folders"),
        ({"spec_time_masks": -1}, "spec_time_masks=-1"),
        ({"shift_s": -0.1}, "shift_s=-0.1"),
    ],
)
def test_augment_config_rejects_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        AugmentConfig(**changes)


def test_load_features_with_augmentation_copies(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, burst(4000), RATE)
    clips = [Clip(str(path), "a"), Clip(str(path), "a", "x")]
    frontend = FrontEndConfig()
    config = AugmentConfig(reverb_prob=0.0)
    x, y = load_features(clips, frontend, augment=config, copies=3, seed=7)
    assert x.shape == (6, frontend.clip_frames, frontend.num_features)
    assert not np.allclose(x[0], x[1])  # copies differ
    again, _ = load_features(clips, frontend, augment=config, copies=3, seed=7)
    np.testing.assert_array_equal(x, again)  # and are reproducible

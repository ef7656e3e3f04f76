"""Waveform and feature augmentation for training.

:class:`Augmenter` changes one clip at a time, before the front end: time
shift, reverberation, background noise at a random SNR, gain. Its noise comes
from folders of long recordings (Speech Commands' ``_background_noise_``,
MUSAN, your own), or, when there are none, from generated noise
(:func:`synthetic_noise`: white, pink, brown, mains hum), so the default recipe
works with TTS data alone.

Reverberation convolves with room impulse responses simulated once per
Augmenter by pyroomacoustics (image source model in random shoebox rooms,
RT60 0.15-0.7 s, random source/microphone positions); a small bank is reused
for every clip because simulating a room costs far more than one
``scipy.signal.fftconvolve``.

:func:`spec_augment` masks time and frequency bands of feature batches
(SpecAugment, Park et al. 2019); the trainer calls it per batch.
"""
from __future__ import annotations

import logging
import pathlib
from dataclasses import dataclass, field

import numpy as np
import scipy.signal
import soundfile

from sdk.audio import audio_folder, load_audio
from sdk.errors import AuricleError, ConfigError

log = logging.getLogger(__name__)

NOISE_KINDS = ("white", "pink", "brown", "hum")
_SILENT_POWER = 1e-8  # mean square below which a clip counts as silent (-80 dBFS)


@dataclass
class AugmentConfig:
    """What :class:`Augmenter` and :func:`spec_augment` do; ranges are ``(low, high)``.

    ``noise_dirs`` are folders searched recursively for noise files; with none
    and ``synthetic_noise`` set, generated noise is used. ``shift_s`` is the
    largest time shift either way. Masks: ``spec_time_masks`` masks each up
    to ``spec_time_mask_frames`` frames wide, likewise for mel bins.
    """

    noise_dirs: list[str] = field(default_factory=list)
    noise_files: list[str] = field(default_factory=list)  # noise files besides those folders (in this order)
    snr_db: tuple[float, float] = (5.0, 20.0)
    noise_prob: float = 0.8
    shift_s: float = 0.1
    gain_db: tuple[float, float] = (-6.0, 6.0)
    reverb_prob: float = 0.25
    spec_time_masks: int = 2
    spec_time_mask_frames: int = 5
    spec_freq_masks: int = 2
    spec_freq_mask_bins: int = 4
    synthetic_noise: bool = True
    rir_bank_size: int = 16
    max_noise_s: float = 1800.0

    def __post_init__(self):
        if isinstance(self.noise_dirs, (str, pathlib.Path)):
            raise ConfigError(f"augment: noise_dirs={self.noise_dirs!r} must be a list of folders")
        self.noise_dirs = [str(d) for d in self.noise_dirs]
        for name in ("snr_db", "gain_db"):
            value = tuple(getattr(self, name))
            if len(value) != 2 or not all(np.isfinite(value)) or value[0] > value[1]:
                raise ConfigError(f"augment: {name}={getattr(self, name)!r} must be (low, high) with low <= high")
            setattr(self, name, (float(value[0]), float(value[1])))
        for name in ("noise_prob", "reverb_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"augment: {name}={value!r} must be a probability in [0, 1]")
        if not np.isfinite(self.shift_s) or self.shift_s < 0:
            raise ConfigError(f"augment: shift_s={self.shift_s!r} must be >= 0 seconds")
        for name in ("spec_time_masks", "spec_time_mask_frames", "spec_freq_masks", "spec_freq_mask_bins"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ConfigError(f"augment: {name}={value!r} must be an integer >= 0")
        if self.rir_bank_size < 1:
            raise ConfigError(f"augment: rir_bank_size={self.rir_bank_size!r} must be >= 1")


# ------------------------------------------------------------ primitives


def time_shift(samples: np.ndarray, shift_samples: int) -> np.ndarray:
    """Move audio later (positive) or earlier (negative), filling with zeros."""
    samples = np.asarray(samples, np.float32)
    out = np.zeros_like(samples)
    n = samples.shape[0]
    if abs(shift_samples) >= n:
        return out
    if shift_samples >= 0:
        out[shift_samples:] = samples[: n - shift_samples]
    else:
        out[: n + shift_samples] = samples[-shift_samples:]
    return out


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + k * noise`` with ``k`` chosen so that 10 log10(P_signal / P_noise) = ``snr_db``.

    Powers are mean squares over the whole clip (silence included), as
    Speech Commands' and audiomentations' mixing do.
    """
    signal = np.asarray(signal, np.float32)
    noise = np.asarray(noise, np.float32)
    if noise.shape != signal.shape:
        raise ConfigError(f"mix_at_snr: noise shape {noise.shape} differs from signal shape {signal.shape}")
    p_signal = float(np.mean(signal.astype(np.float64) ** 2))
    p_noise = float(np.mean(noise.astype(np.float64) ** 2))
    if p_noise <= 0:
        return signal.copy()
    scale = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (signal + np.float32(scale) * noise).astype(np.float32)


def synthetic_noise(kind: str, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Generated noise at RMS 0.1: ``white``, ``pink`` (1/f), ``brown`` (1/f^2) or ``hum``.

    ``hum`` is 50 or 60 Hz mains with random harmonics over faint white noise.
    """
    if kind not in NOISE_KINDS:
        raise ConfigError(f"synthetic_noise: kind={kind!r} must be one of {NOISE_KINDS}")
    if kind == "hum":
        t = np.arange(num_samples) / sample_rate
        base_hz = rng.choice([50.0, 60.0])
        out = np.zeros(num_samples)
        for harmonic in range(1, 8):
            if harmonic * base_hz < sample_rate / 2:
                out += rng.uniform(0, 1) / harmonic * np.sin(2 * np.pi * harmonic * base_hz * t + rng.uniform(0, 2 * np.pi))
        out += 0.05 * rng.standard_normal(num_samples)
    else:
        white = rng.standard_normal(num_samples)
        if kind == "white":
            out = white
        else:
            spectrum = np.fft.rfft(white)
            freqs = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
            freqs[0] = freqs[1] if num_samples > 1 else 1.0
            exponent = 0.5 if kind == "pink" else 1.0  # amplitude ~ f^-1/2 (pink) or f^-1 (brown)
            out = np.fft.irfft(spectrum / freqs**exponent, n=num_samples)
    rms = np.sqrt(np.mean(out**2)) or 1.0
    return (0.1 * out / rms).astype(np.float32)


def write_synthetic_noise(out_dir, *, seconds: float = 30.0, sample_rate: int = 16000, seed: int = 0) -> list[pathlib.Path]:
    """One WAV per noise kind in ``out_dir`` (for silence clips when a user has no noise folder)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for kind in NOISE_KINDS:
        path = out / f"{kind}.wav"
        if not path.is_file():
            soundfile.write(path, synthetic_noise(kind, int(seconds * sample_rate), sample_rate, rng), sample_rate, subtype="PCM_16")
        paths.append(path)
    return paths


def room_impulse_responses(count: int, sample_rate: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` RIRs of random shoebox rooms (pyroomacoustics image sources).

    Rooms are 3x3x2.4 to 10x8x4 m with RT60 0.15-0.7 s; each RIR is shifted to
    start at its direct path and scaled to unit energy.
    """
    import pyroomacoustics as pra  # ~1 s import; only when reverb is used

    rng = np.random.default_rng(seed)
    rirs = []
    while len(rirs) < count:
        dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        rt60_s = rng.uniform(0.15, 0.7)
        try:
            absorption, max_order = pra.inverse_sabine(rt60_s, dims)
        except ValueError:  # room too large for this RT60
            continue
        room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 40))
        margin = 0.5
        room.add_source(rng.uniform(margin, dims - margin))
        room.add_microphone(rng.uniform(margin, dims - margin))
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], np.float64)
        rir = rir[int(np.argmax(np.abs(rir))) :]
        rirs.append((rir / np.sqrt(np.sum(rir**2))).astype(np.float32))
    return rirs


def reverberate(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir`` (direct path first), same length and RMS as the input."""
    samples = np.asarray(samples, np.float32)
    wet = scipy.signal.fftconvolve(samples, rir)[: samples.shape[0]]
    rms_in, rms_out = np.sqrt(np.mean(samples**2)), np.sqrt(np.mean(wet**2))
    if rms_out > 0:
        wet *= rms_in / rms_out
    return wet.astype(np.float32)


def _noise_files(folder: str) -> list[pathlib.Path]:
    return audio_folder(folder, "augment: noise folder")


# -------------------------------------------------------------- augmenter


class Augmenter:
    """Random waveform augmentation of one clip: ``augmenter(samples, rng) -> samples``.

    Applied in the order a microphone hears it: time shift, room
    reverberation (``reverb_prob``), background noise at an SNR drawn from
    ``snr_db`` (``noise_prob``), gain drawn from ``gain_db``. A result
    louder than full scale is scaled down to peak 1 rather than clipped. On a
    silent clip (the silence class) noise is added at -60..-20 dBFS instead,
    since an SNR to silence is meaningless.

    Noise files are decoded once, at ``sample_rate``, up to
    ``config.max_noise_s`` seconds in all. ``seed`` fixes the noise bank and
    RIRs; per-clip randomness comes from the ``rng`` of each call.
    """

    def __init__(self, config: AugmentConfig, sample_rate: int, seed: int = 0):
        if not isinstance(config, AugmentConfig):
            raise ConfigError(f"Augmenter: config must be an AugmentConfig, got {type(config).__name__}")
        self.config, self.sample_rate = config, int(sample_rate)
        rng = np.random.default_rng(seed)
        self.noises: list[np.ndarray] = []
        self.noise_names: list[str] = []
        total = 0
        paths = [p for folder in config.noise_dirs for p in _noise_files(folder)] + list(config.noise_files)
        for path in paths:
            if total >= config.max_noise_s * sample_rate:
                break
            try:
                noise = load_audio(path, self.sample_rate)
            except AuricleError as exc:
                log.warning("augment: skipping unreadable noise file: %s", exc)
                continue
            if np.mean(noise.astype(np.float64) ** 2) < _SILENT_POWER:
                continue
            self.noises.append(noise)
            self.noise_names.append(str(path))
            total += noise.shape[0]
        if paths and not self.noises:
            raise ConfigError(f"augment: no usable (readable, non-silent) noise files in "
                              f"{config.noise_dirs or config.noise_files[:3]}")
        if not self.noises and config.synthetic_noise and config.noise_prob > 0:
            for kind in NOISE_KINDS:
                self.noises.append(synthetic_noise(kind, 10 * self.sample_rate, self.sample_rate, rng))
                self.noise_names.append(f"synthetic:{kind}")
        self.rirs = room_impulse_responses(config.rir_bank_size, self.sample_rate, seed) if config.reverb_prob > 0 else []

    def noise_crop(self, num_samples: int, rng: np.random.Generator) -> np.ndarray:
        """A random ``num_samples`` window of a random noise (tiled when shorter)."""
        noise = self.noises[int(rng.integers(len(self.noises)))]
        if noise.shape[0] <= num_samples:
            return np.resize(noise, num_samples)
        start = int(rng.integers(noise.shape[0] - num_samples + 1))
        return noise[start : start + num_samples]

    def __call__(self, samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        out = np.asarray(samples, np.float32)
        if cfg.shift_s > 0:
            limit = int(round(cfg.shift_s * self.sample_rate))
            out = time_shift(out, int(rng.integers(-limit, limit + 1)))
        if self.rirs and rng.random() < cfg.reverb_prob:
            out = reverberate(out, self.rirs[int(rng.integers(len(self.rirs)))])
        if self.noises and rng.random() < cfg.noise_prob:
            noise = self.noise_crop(out.shape[0], rng)
            if np.mean(out.astype(np.float64) ** 2) < _SILENT_POWER:
                level = 10 ** (rng.uniform(-60, -20) / 20) / (np.sqrt(np.mean(noise**2)) or 1.0)
                out = out + np.float32(level) * noise
            else:
                out = mix_at_snr(out, noise, rng.uniform(*cfg.snr_db))
        if cfg.gain_db != (0.0, 0.0):
            out = out * np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        if peak > 1.0:
            out = out / np.float32(peak)
        return out.astype(np.float32, copy=False)


# ------------------------------------------------------------ SpecAugment


def _band_masks(count: int, max_width: int, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean ``(batch, size)``: ``count`` bands per row, widths uniform in 1..max_width."""
    if count == 0 or max_width == 0 or size == 0:
        return np.zeros((batch, size), bool)
    widths = rng.integers(1, min(max_width, size) + 1, size=(batch, count))
    starts = rng.integers(0, size - widths + 1)
    index = np.arange(size)
    inside = (index >= starts[..., None]) & (index < (starts + widths)[..., None])
    return inside.any(axis=1)


def spec_augment(batch_features: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """SpecAugment time and frequency masks on a batch ``(n, frames, features)``.

    Each example gets ``config.spec_time_masks`` bands of 1 to
    ``spec_time_mask_frames`` frames and ``spec_freq_masks`` bands of 1 to
    ``spec_freq_mask_bins`` features (bands may overlap), set to that
    example's mean feature value (log-mel features are not zero-mean). Returns
    a new array; the input is unchanged.
    """
    batch = np.asarray(batch_features, np.float32)
    if batch.ndim != 3:
        raise ConfigError(f"spec_augment: batch_features shape {batch.shape} is not (n, frames, features)")
    n, frames, bins = batch.shape
    time_mask = _band_masks(config.spec_time_masks, config.spec_time_mask_frames, frames, n, rng)
    freq_mask = _band_masks(config.spec_freq_masks, config.spec_freq_mask_bins, bins, n, rng)
    mask = time_mask[:, :, None] | freq_mask[:, None, :]
    fill = batch.mean(axis=(1, 2), keepdims=True)
    return np.where(mask, fill, batch).astype(np.float32)

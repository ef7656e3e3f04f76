"""Audio loading: every format, rate and channel layout users have; clear errors for the rest."""
import numpy as np
import pytest
import soundfile

from conftest import tone
from sdk import AudioError, ConfigError, load_audio, read_audio, resample
from sdk.audio import Resampler, fit_length, to_mono


def dominant_hz(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sample_rate / x.size)


@pytest.mark.parametrize(
    "fmt, subtype, ext",
    [("WAV", "PCM_16", "wav"), ("WAV", "PCM_32", "wav"), ("WAV", "FLOAT", "wav"), ("FLAC", "PCM_16", "flac"),
     ("OGG", "VORBIS", "ogg")],
)
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_formats_and_rates_come_out_at_the_model_rate(tmp_path, fmt, subtype, ext, rate):
    path = tmp_path / f"tone_{rate}.{ext}"
    soundfile.write(path, tone(1000, 1.0, rate), rate, format=fmt, subtype=subtype)
    x = load_audio(path, 16000)
    assert x.dtype == np.float32
    assert abs(x.size - 16000) <= 2
    assert dominant_hz(x, 16000) == pytest.approx(1000, abs=3)
    assert np.abs(x).max() == pytest.approx(0.5, abs=0.05)


def test_stereo_is_averaged(tmp_path):
    left = tone(440, 0.5)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, np.zeros_like(left)], axis=1), 16000, subtype="PCM_16")
    audio = read_audio(path)
    assert audio.sample_rate == 16000
    np.testing.assert_allclose(audio.samples, left / 2, atol=1e-4)


def test_int16_blocks_scale_to_unit_range():
    block = np.array([-32768, 0, 16384, 32767], np.int16)
    np.testing.assert_allclose(to_mono(block), [-1.0, 0.0, 0.5, 32767 / 32768])
    np.testing.assert_allclose(to_mono(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(to_mono(np.array([[0.2, 0.4]], np.float32)), [0.3], rtol=1e-6)


def test_streaming_resampler_matches_whole_clip_length():
    x = tone(500, 1.0, 48000)
    r = Resampler(48000, 16000)
    out = np.concatenate([r(x[i : i + 960]) for i in range(0, x.size, 960)] + [r(np.zeros(0, np.float32), last=True)])
    assert abs(out.size - 16000) <= 2
    assert dominant_hz(out, 16000) == pytest.approx(500, abs=3)
    assert resample(x, 48000, 16000).size == 16000


def test_fit_length_pads_and_crops_centred():
    np.testing.assert_array_equal(fit_length(np.ones(2, np.float32), 6), [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(fit_length(np.arange(6, dtype=np.float32), 2), [2, 3])


def write_bytes(path, data: bytes):
    path.write_bytes(data)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.wav: no such file"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path, 16000)


def test_empty_file(tmp_path):
    with pytest.raises(AudioError, match=r"empty\.wav: not a readable audio file"):
        load_audio(write_bytes(tmp_path / "empty.wav", b""), 16000)


def test_wav_with_no_samples(tmp_path):
    path = tmp_path / "zero.wav"
    soundfile.write(path, np.zeros(0, np.float32), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match=r"zero\.wav: file is empty \(0 frames\)"):
        load_audio(path, 16000)


def test_random_bytes(tmp_path):
    path = write_bytes(tmp_path / "noise.wav", np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioError, match=r"noise\.wav: not a readable audio file"):
        load_audio(path, 16000)


def test_text_file_named_wav(tmp_path):
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        load_audio(write_bytes(tmp_path / "notes.wav", b"these are not samples\n" * 50), 16000)


def test_truncated_wav_keeps_what_is_there_or_says_so(tmp_path):
    """A WAV cut mid-data: libsndfile reads the samples present; the header's claim is not trusted."""
    path = tmp_path / "cut.wav"
    soundfile.write(path, tone(440, 1.0), 16000, subtype="PCM_16")
    data = path.read_bytes()
    write_bytes(path, data[: 44 + 8000])  # header + 4000 samples of 16000
    x = load_audio(path, 16000)
    assert x.size == 4000
    write_bytes(path, data[:30])  # cut inside the header
    with pytest.raises(AudioError, match=r"cut\.wav: not a readable audio file"):
        load_audio(path, 16000)


def test_nan_samples(tmp_path):
    path = tmp_path / "nan.wav"
    x = tone(440, 0.1)
    x[10] = np.nan
    soundfile.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: contains NaN"):
        load_audio(path, 16000)


@pytest.mark.parametrize("rate", [0, -16000, 16000.5, "16k"])
def test_bad_target_rate(tmp_path, rate):
    path = tmp_path / "ok.wav"
    soundfile.write(path, tone(440, 0.1), 16000)
    with pytest.raises(ConfigError, match="to_rate=.* must be a positive integer"):
        load_audio(path, rate)


def test_blocks_of_other_shapes_are_refused():
    with pytest.raises(AudioError, match=r"shape \(2, 2, 2\)"):
        to_mono(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(AudioError, match="dtype <U1"):
        to_mono(np.array(["a"]))

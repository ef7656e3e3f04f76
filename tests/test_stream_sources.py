"""Audio sources: arrays, files, raw PCM pipes, and the microphone's bad-input errors."""
import io

import numpy as np
import pytest
import soundfile

from conftest import tone
from sdk.errors import AudioError, ConfigError, DeviceError
from sdk.sources import ArraySource, FileSource, StdinSource, blocks_of


def test_array_source_scales_integers_and_downmixes():
    blocks = [np.full((4, 2), 16384, np.int16), np.full(3, -32768, np.int16)]
    source = ArraySource(blocks, sample_rate=8000)
    out = list(source)
    np.testing.assert_allclose(out[0], 0.5)
    np.testing.assert_allclose(out[1], -1.0)
    assert source.stats.blocks == 2 and source.stats.samples == 7 and source.sample_rate == 8000


@pytest.mark.parametrize(
    "blocks, rate, error, match",
    [
        ([np.zeros(4, np.complex64)], 16000, AudioError, "complex64 is not integer or float"),
        ([[0.0, 1.0]], 16000, AudioError, "block 0 is a list, not a numpy array"),
        ([np.zeros(4)], 0, ConfigError, "sample_rate=0 must be a positive integer"),
        ([np.zeros(4)], 16000.5, ConfigError, "sample_rate=16000.5"),
    ],
)
def test_array_source_bad_input(blocks, rate, error, match):
    with pytest.raises(error, match=match):
        list(ArraySource(blocks, sample_rate=rate))


def test_file_source_reads_the_whole_file_in_blocks(tmp_path):
    samples = tone(440, 1.03, sample_rate=22050)
    stereo = np.stack([samples, samples], axis=1)
    path = tmp_path / "tone.wav"
    soundfile.write(path, stereo, 22050, subtype="FLOAT")
    source = FileSource(path, block_s=0.1)
    got = np.concatenate(list(source))
    assert source.sample_rate == 22050
    np.testing.assert_allclose(got, samples, atol=1e-6)
    assert source.stats.blocks == 11


def test_file_source_realtime_is_paced(tmp_path):
    import time

    path = tmp_path / "short.wav"
    soundfile.write(path, tone(440, 0.3), 16000)
    started = time.monotonic()
    list(FileSource(path, realtime=True, block_s=0.05))
    assert time.monotonic() - started >= 0.25


def test_file_source_bad_files(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: no such file"):
        FileSource(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: not a readable audio file"):
        FileSource(junk)


def test_stdin_source_frames_odd_reads_and_channels():
    pcm = np.arange(-500, 500, dtype=np.int16).reshape(-1, 2)  # 500 stereo frames
    stream = io.BufferedReader(io.BytesIO(pcm.tobytes()), buffer_size=7)
    source = StdinSource(16000, channels=2, block_s=0.001, stream=stream)
    got = np.concatenate(list(source))
    np.testing.assert_allclose(got, pcm.mean(axis=1) / 32768, atol=1e-6)
    assert source.stats.samples == 500


def test_stdin_source_float32_and_bad_settings():
    data = np.linspace(-1, 1, 100, dtype=np.float32)
    got = np.concatenate(list(StdinSource(8000, dtype="float32", stream=io.BytesIO(data.tobytes()))))
    np.testing.assert_array_equal(got, data)
    with pytest.raises(ConfigError, match="dtype='int24' must be one of"):
        StdinSource(16000, dtype="int24")
    with pytest.raises(ConfigError, match="channels=0"):
        StdinSource(16000, channels=0)


def test_blocks_of():
    assert [b.tolist() for b in blocks_of(np.arange(5), 2)] == [[0, 1], [2, 3], [4]]
    with pytest.raises(ConfigError, match="block_samples=0"):
        list(blocks_of(np.arange(5), 0))


def test_microphone_that_does_not_exist():
    pytest.importorskip("sounddevice")
    from sdk.microphone import Microphone

    with pytest.raises(DeviceError, match="no input device named like 'Imaginary USB mic'.*(available inputs|no input devices found)"):
        Microphone("Imaginary USB mic")
    with pytest.raises(DeviceError, match="input device 4242 does not exist.*(available inputs|no input devices found)"):
        Microphone(4242)


def test_streaming_runtime_never_imports_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import sdk.detector, sdk.listen, sdk.stream_eval, sdk.streaming, sdk.microphone, sdk.sinks; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'quantize')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stdout + done.stderr

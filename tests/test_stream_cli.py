"""``auricle listen`` on files and pipes (the microphone path is in test_stream_portaudio.py)."""
import json

import numpy as np
import pytest
import soundfile
import typer
from typer.testing import CliRunner

import stream_model
from sdk import listen as listen_module
from sdk.errors import ConfigError

RATE = 16000


@pytest.fixture(scope="module")
def model_and_stream(tmp_path_factory):
    if not stream_model.have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    pytest.importorskip("tensorflow")
    model = stream_model.yes_bundle_path()
    rng = np.random.default_rng(4)
    samples = stream_model.noise(rng, 6 * RATE, -45)
    clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=170) * 0.5
    samples[2 * RATE : 2 * RATE + clip.shape[0]] += clip
    folder = tmp_path_factory.mktemp("listen")
    wav = folder / "stream.wav"
    soundfile.write(wav, samples, RATE)
    return model, wav, samples, (2 * RATE + clip.shape[0]) / RATE


def app():
    application = typer.Typer()
    listen_module.register(application)
    application.command("noop")(lambda: None)  # keep `listen` a named subcommand
    return application


def test_listen_file_json(model_and_stream):
    model, wav, _, word_end_s = model_and_stream
    result = CliRunner().invoke(app(), ["listen", str(model), "--file", str(wav), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{\"label")]
    assert [line["label"] for line in lines] == ["yes"]
    assert abs(lines[0]["time_s"] - word_end_s) <= 0.5


def test_listen_stdin_plain(model_and_stream):
    model, _, samples, _ = model_and_stream
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    result = CliRunner().invoke(app(), ["listen", str(model), "--stdin", "--rate", "16000"], input=pcm)
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[1] for line in result.stdout.splitlines() if "\t" in line] == ["yes"]


def test_listen_thresholds_and_errors(model_and_stream):
    model, wav, _, _ = model_and_stream
    result = CliRunner().invoke(app(), ["listen", str(model), "--file", str(wav), "--json", "--threshold", "yes=1.0"])
    assert result.exit_code == 0 and "\"label\"" not in result.stdout
    result = CliRunner().invoke(app(), ["listen", str(model), "--stdin"])
    assert isinstance(result.exception, ConfigError) and "--stdin needs --rate" in str(result.exception)
    result = CliRunner().invoke(app(), ["listen", str(model), "--file", str(wav), "--threshold", "high"])
    assert isinstance(result.exception, ConfigError) and "expected a number or LABEL=NUMBER" in str(result.exception)


def test_parse_thresholds():
    assert listen_module.parse_thresholds(["0.7", "yes=0.9", "a=b=0.5"]) == (0.7, {"yes": 0.9, "a=b": 0.5})

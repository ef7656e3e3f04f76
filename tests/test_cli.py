"""``auricle classify`` and ``auricle inspect`` as a user runs them."""
import json

import numpy as np
import pytest
import soundfile

from conftest import one_window_scores, tone
from sdk.cli import main
from sdk.frontend import FrontEndConfig

LABELS = ["yes", "no", "_silence_"]


@pytest.fixture
def model_path(tiny_model_int8):
    return str(tiny_model_int8[3])


def test_classify_prints_label_and_score_per_file(model_path, tiny_model_int8, speech_wav, tmp_path, capsys):
    soundfile.write(tmp_path / "tone.flac", tone(700, 0.8, 44100), 44100)
    files = (str(speech_wav), str(tmp_path / "tone.flac"))
    assert main(["classify", model_path, *files, "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, files):
        expected = one_window_scores(tiny_model_int8[1], FrontEndConfig(), name)  # both clips fit one window
        ranked = sorted(zip(LABELS, expected), key=lambda pair: -pair[1])[:2]
        assert line == name + "\t" + "\t".join(f"{label}\t{score:.3f}" for label, score in ranked)


def test_classify_json_lines(model_path, tiny_model_int8, speech_wav, capsys):
    assert main(["classify", model_path, str(speech_wav), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = one_window_scores(tiny_model_int8[1], FrontEndConfig(), speech_wav)
    assert record["scores"]["output"] == pytest.approx(dict(zip(LABELS, expected.tolist())), abs=1e-7)
    assert record["label"] == LABELS[int(np.argmax(expected))]
    assert sum(record["scores"]["output"].values()) == pytest.approx(1.0, abs=0.02)
    assert record["duration_s"] > 0.2


def test_one_bad_file_loses_nothing_else(model_path, speech_wav, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    assert main(["classify", model_path, str(broken), str(speech_wav)]) == 1
    captured = capsys.readouterr()
    assert "broken.wav: not a readable audio file" in captured.err
    assert "Traceback" not in captured.err
    assert "yes.wav" in captured.out


def test_bad_model_is_one_line_error(tmp_path, speech_wav, capsys):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"hello")
    assert main(["classify", str(fake), str(speech_wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "fake.tflite: not a TFLite model" in err and "\n" not in err


def test_inspect_text_and_json(model_path, capsys):
    assert main(["inspect", model_path]) == 0
    text = capsys.readouterr().out
    assert "yes, no, _silence_" in text and "int8 [1, 49, 40]" in text and "40 log-mel" in text
    assert main(["inspect", model_path, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["heads"][0]["labels"] == ["yes", "no", "_silence_"]
    assert info["inputs"][0]["scale"] > 0


def test_usage_error_exit_code(capsys):
    assert main(["classify"]) == 2
    assert "Missing argument" in capsys.readouterr().err

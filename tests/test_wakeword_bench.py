"""benchmarks/wakeword.py: peers and Auricle scored by the same sweep on the same streams."""
import pathlib
import sys

import numpy as np
import pytest
import soundfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
pytest.importorskip("pyopen_wakeword")
pytest.importorskip("pymicro_wakeword")

import wakeword  # noqa: E402
from sdk.det import DET_THRESHOLDS  # noqa: E402
from wakeword_scorers import score_microwakeword, score_openwakeword  # noqa: E402

RATE = 16000


def _write(path, samples):
    soundfile.write(str(path), samples.astype(np.float32), RATE)
    return path


def test_background_plays_each_file_once_at_one_level_and_skips_silence(tmp_path):
    rng = np.random.default_rng(0)
    loud = _write(tmp_path / "a.wav", 0.5 * rng.standard_normal(RATE))
    silent = _write(tmp_path / "b.wav", np.zeros(RATE))
    quiet = _write(tmp_path / "c.wav", 0.01 * rng.standard_normal(2 * RATE))
    stream = wakeword.background_stream([loud, silent, quiet], max_s=60)
    assert stream.shape[0] == 3 * RATE
    rms = [np.sqrt(np.mean(part.astype(np.float64) ** 2)) for part in (stream[:RATE], stream[RATE:])]
    assert np.allclose(20 * np.log10(rms), wakeword.BACKGROUND_DB, atol=0.1)
    assert wakeword.background_stream([loud, quiet], max_s=1.5).shape[0] == int(1.5 * RATE)


@pytest.mark.parametrize("score", [score_openwakeword, score_microwakeword])
def test_peer_traces_cover_the_stream_in_time_order(score):
    samples = (0.05 * np.random.default_rng(1).standard_normal(8 * RATE)).astype(np.float32)
    scored = score(["alexa"], samples)["alexa"]
    times = scored.trace.times_s
    assert scored.trace.posteriors.shape == (len(times), 1) and len(times) > 20
    assert np.all(np.diff(times) >= 0) and 7.5 < times[-1] <= 8.0
    assert np.all((scored.trace.posteriors >= 0) & (scored.trace.posteriors <= 1)) and scored.cpu_s > 0


def test_compare_gives_each_peer_a_full_det_with_misses_falling_as_the_threshold_falls(tmp_path):
    from quantize.data import tts

    clips = [pathlib.Path(c.path) for c in
             tts.synthesize(["alexa"], tmp_path / "tts", variants_per_word=4, engines=["espeak-ng"], clip_s=None)]
    rng = np.random.default_rng(2)
    noise = [_write(tmp_path / f"n{i}.wav", 0.1 * rng.standard_normal(5 * RATE)) for i in range(2)]
    background = (0.03 * rng.standard_normal(20 * RATE)).astype(np.float32)
    rows = wakeword.compare({"openwakeword": ["alexa"], "microwakeword": ["alexa"]}, {"alexa": clips}, noise,
                            background, snr_db=20.0, seed=0, artifacts={})
    assert [r["detector"] for r in rows] == ["openwakeword", "microwakeword"]
    for row in rows:
        assert row["positives"] == 4 and len(row["det"]) == len(DET_THRESHOLDS)
        misses = [d["false_reject_rate"] for d in row["det"]]
        assert misses == sorted(misses)  # thresholds ascend: misses can only grow
        assert [p["false_accepts_per_hour_target"] for p in row["miss_at_false_accepts_per_hour"]] == [1.0, 0.5, 0.1]
        assert 0 < row["cpu_s_per_audio_s"] < 1 and row["model_bytes"] > 10_000


def test_the_benchmark_plays_exactly_the_files_wakeword_training_never_reads(tmp_path):
    from quantize.wakeword import background

    rng = np.random.default_rng(3)
    for i in range(40):
        (tmp_path / f"d{i % 3}").mkdir(exist_ok=True)
        _write(tmp_path / f"d{i % 3}" / f"f{i}.wav", 0.1 * rng.standard_normal(RATE // 4))
    played = wakeword.shared_files(tmp_path, "held_out", 0.2, 0.3)
    assert played == background.files(tmp_path, "held_out", held_back=0.2, held_out=0.3)
    trained = background.files(tmp_path, "train", held_back=0.2, held_out=0.3)
    calibrated = background.files(tmp_path, "calibration", held_back=0.2, held_out=0.3)
    assert played and not set(played) & (set(trained) | set(calibrated))
    assert len(wakeword.shared_files(tmp_path, "all", 0.2, 0.3)) == 40


def test_summary_keeps_one_figure_per_peer_and_a_list_per_auricle_seed():
    def row(detector, miss, snr=10.0, model_bytes=1000):
        r = {"phrase": "alexa", "detector": detector, "snr_db": snr, "model_bytes": model_bytes,
             "cpu_s_per_audio_s": 0.01, "background_h": 1.0, "positives": 60,
             "miss_at_false_accepts_per_hour": [{"false_accepts_per_hour_target": 1.0, "false_reject_rate": miss},
                                                {"false_accepts_per_hour_target": 0.5, "false_reject_rate": None}]}
        if detector == "auricle":
            r["at_calibrated_threshold"] = {"threshold": 0.9, "false_reject_rate": miss, "false_accepts_per_hour": 0.0}
        return r

    summary = wakeword.summarise([row("openwakeword", 0.4), row("auricle", 0.1), row("auricle", 0.3)])
    assert summary["alexa"]["openwakeword"]["snr_10"]["miss_at_1_per_h"] == 0.4
    assert summary["alexa"]["openwakeword"]["snr_10"]["miss_at_0_5_per_h"] is None
    assert summary["alexa"]["auricle"]["snr_10"]["miss_at_1_per_h"] == [0.1, 0.3]
    assert summary["alexa"]["auricle"]["snr_10"]["calibrated_miss"] == [0.1, 0.3]
    assert summary["alexa"]["auricle"]["model_bytes"] == 1000

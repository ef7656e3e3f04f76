"""Stream evaluation: stream building, the one-pass threshold sweep, matching, the CLI."""
import json

import numpy as np
import pytest
import soundfile
import typer
from typer.testing import CliRunner

import stream_model
from sdk.detector import Detector
from sdk.errors import ConfigError
from sdk.det import EventRule, match, miss_at_false_accepts, sweep
from sdk.stream_eval import Placement, build_stream, keyword_files, register, trace_scores

RATE = 16000



@pytest.fixture(scope="module")
def synthetic_corpus(tmp_path_factory):
    """Held-out-voice "yes" clips in keywords/yes, noise backgrounds.

    (Other words under a "yes" make this tiny model say _unknown_; real talk is in the CLI test.)
    """
    root = tmp_path_factory.mktemp("corpus")
    (root / "keywords" / "yes").mkdir(parents=True)
    (root / "background").mkdir()
    for i, speed in enumerate((140, 170, 200)):
        clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=speed)
        soundfile.write(root / "keywords" / "yes" / f"yes{i}.wav", np.pad(clip, 3000), RATE)
    rng = np.random.default_rng(9)
    for i in range(3):
        soundfile.write(root / "background" / f"noise{i}.wav", stream_model.noise(rng, 7 * RATE, -30), RATE)
    return root


def test_matching_rules():
    truth = [Placement("yes", 10.0, 10.5, 10, "a"), Placement("yes", 20.0, 20.4, 10, "b")]
    # late but in tolerance; a second event for the same keyword; an event for nothing; an early one.
    hits, fa = match([("yes", 11.2), ("yes", 11.4), ("yes", 15.0), ("yes", 19.9)], truth, tolerance_s=1.0)
    assert (hits, fa) == (1, 3)
    assert match([("no", 10.2)], truth, tolerance_s=1.0) == (0, 1)


def test_build_stream_places_keywords_at_the_asked_snr(synthetic_corpus):
    clips = keyword_files(["yes"], keywords_dir=synthetic_corpus / "keywords")
    backgrounds = sorted((synthetic_corpus / "background").glob("*.wav"))
    stream, placements = build_stream(clips, backgrounds, sample_rate=RATE, duration_s=60, snr_db=(20.0,),
                                      keywords_per_minute=6, rng=np.random.default_rng(0))
    assert stream.shape == (60 * RATE,)
    assert len(placements) == 6
    for i, p in enumerate(placements):
        assert 10 * i <= p.start_s < p.end_s <= 10 * (i + 1)
        assert 0.2 < p.end_s - p.start_s < 1.0  # the audible part of a "yes", not the padding


def test_sweep_replays_the_online_detector(yes_bundle, synthetic_corpus):
    clips = keyword_files(["yes"], keywords_dir=synthetic_corpus / "keywords")
    backgrounds = sorted((synthetic_corpus / "background").glob("*.wav"))
    stream, placements = build_stream(clips, backgrounds, sample_rate=RATE, duration_s=120, snr_db=(10.0, 20.0),
                                      keywords_per_minute=6, rng=np.random.default_rng(1))
    detector = Detector(yes_bundle)
    trace = trace_scores(detector, stream, RATE)
    rows = sweep(trace, placements, EventRule.of(detector), thresholds=[0.3, 0.6, 0.95])
    online = Detector(yes_bundle).feed(stream)
    at_default = rows[1]
    assert (at_default["hits"], at_default["false_accepts"]) == match(
        [(e.label, e.time_s) for e in online], placements, tolerance_s=1.0)
    assert at_default["false_reject_rate"] <= 0.25  # an unheard voice, 10-20 dB SNR
    assert at_default["false_accepts_per_hour"] <= 60  # at most 2 in these 2 minutes
    # Raising the threshold can only lose events.
    assert rows[0]["hits"] + rows[0]["false_accepts"] >= rows[1]["hits"] + rows[1]["false_accepts"] >= \
        rows[2]["hits"] + rows[2]["false_accepts"]


def test_miss_rate_at_a_false_accept_budget_takes_the_best_row_under_it():
    rows = [{"threshold": t, "false_reject_rate": frr, "false_accepts_per_hour": fa}
            for t, frr, fa in [(0.5, 0.0, 6.0), (0.8, 0.1, 1.0), (0.9, 0.3, 0.4), (0.95, 0.2, 0.45), (0.99, 0.6, 0.0)]]
    one, half, tenth = miss_at_false_accepts(rows, duration_s=2 * 3600)
    assert (one["threshold"], one["false_reject_rate"]) == (0.8, 0.1)  # 1.0 per hour is within a budget of 1
    assert (half["threshold"], half["false_reject_rate"]) == (0.95, 0.2)  # fewest misses, not highest threshold
    assert (tenth["threshold"], tenth["false_reject_rate"]) == (0.99, 0.6)
    assert one["resolved"] and half["resolved"] and not tenth["resolved"]  # 2 h cannot show 0.1 per hour
    (none,) = miss_at_false_accepts(rows[:2], duration_s=3600, targets=(0.5,))
    assert none["threshold"] is None and none["false_reject_rate"] is None


def test_manifest_and_bad_inputs(tmp_path, synthetic_corpus):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label\n{synthetic_corpus}/keywords/yes/yes0.wav,yes\nx.wav,maybe\n")
    assert list(keyword_files(["yes"], manifest=manifest)) == ["yes"]
    with pytest.raises(ConfigError, match="either keywords_dir"):
        keyword_files(["yes"])
    with pytest.raises(ConfigError, match="no clips for any of the model's keywords"):
        keyword_files(["go"], keywords_dir=synthetic_corpus / "keywords")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,kind\na,b\n")
    with pytest.raises(ConfigError, match="needs columns 'path' and 'label'"):
        keyword_files(["yes"], manifest=bad)


def test_cli_on_real_backgrounds(yes_bundle, shared_data, tmp_path, synthetic_corpus):
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out, plot = tmp_path / "report.json", tmp_path / "det.png"
    result = CliRunner().invoke(app, [
        "evaluate-stream", yes_bundle.source, "--keywords-dir", str(synthetic_corpus / "keywords"),
        "--background", str(shared_data / "esc50" / "audio"), "--background", str(shared_data / "ravdess_speech"),
        "--duration-s", "60", "--snr-db", "10", "--out", str(out), "--plot", str(plot),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["stream"]["keywords"] == 4
    assert {"false_reject_rate", "false_accepts_per_hour", "threshold"} <= set(report["operating_point"])
    assert len(report["det"]) >= 40
    budgets = report["miss_at_false_accepts_per_hour"]
    assert [b["false_accepts_per_hour_target"] for b in budgets] == [1.0, 0.5, 0.1]
    assert not any(b["resolved"] for b in budgets)  # one minute resolves none of them, and says so
    assert "at <= 0.1 false accepts per hour" in result.output
    try:
        import matplotlib  # noqa: F401
        assert plot.stat().st_size > 1000
    except ImportError:
        assert report["plot"] is None

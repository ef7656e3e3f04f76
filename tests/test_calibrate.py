"""Calibration: the threshold and smoothing with the fewest misses inside a false-accept budget."""
import numpy as np
import pytest
import soundfile

from sdk.bundle import Bundle
from sdk.calibrate import choose
from sdk.det import DET_THRESHOLDS
from sdk.errors import ConfigError
from sdk.stream_eval import Placement, ScoreTrace

HOP = 0.1
LABELS, KEYWORDS = ("kw", "_unknown_"), ("kw",)


def _trace(duration_s, bumps):
    """``bumps``: (start_s, hops, score) of the keyword column; the rest scores 0.05."""
    times = np.arange(1, int(duration_s / HOP) + 1) * HOP
    kw = np.full(times.shape, 0.05)
    for start, hops, score in bumps:
        i = int(round(start / HOP))
        kw[i:i + hops] = score
    return ScoreTrace(times, np.stack([kw, 1 - kw], 1).astype(np.float32), np.zeros(times.shape, bool), duration_s, 0.0)


@pytest.fixture
def traces():
    # Five keywords: three scored 0.9, two 0.6, each for ten hops.
    starts = [5, 15, 25, 35, 45]
    positive = _trace(60, [(s, 10, 0.9 if k < 3 else 0.6) for k, s in enumerate(starts)])
    placements = [Placement("kw", s, s + 1.0, 10.0, f"p{k}") for k, s in enumerate(starts)]
    # Two hours of negatives with single-hop blips: three at 0.7, one at 0.95.
    negative = _trace(600, [(100, 1, 0.7), (200, 1, 0.7), (300, 1, 0.7), (400, 1, 0.95)])
    negative.duration_s = 7200.0
    return positive, placements, negative


def _choose(traces, **options):
    positive, placements, negative = traces
    return choose(positive, placements, negative, labels=LABELS, keywords=KEYWORDS, hop_s=HOP, refractory_s=1.0,
                  **options)


def test_one_hit_rule_keeps_the_threshold_between_the_blips_and_the_weaker_keywords(traces):
    cal = _choose(traces, target=1.0, smoothing_hops=(1,), min_counts=(1,))
    # A budget of 2 in 2 h: the three 0.7 blips must stay under; then the two 0.6 keywords are lost too.
    assert cal.detection.threshold == max(t for t in DET_THRESHOLDS if t <= 0.9)  # the safest that still hears 0.9
    assert (cal.false_accepts, cal.miss_rate) == (1, pytest.approx(0.4))
    assert cal.false_accepts_per_hour == pytest.approx(0.5) and cal.negative_hours == pytest.approx(2.0)


def test_two_hits_in_a_row_ignore_single_blips_and_catch_every_keyword(traces):
    cal = _choose(traces, target=1.0, smoothing_hops=(1,), min_counts=(1, 2))
    assert cal.detection.min_count == 2 and cal.miss_rate == 0 and cal.false_accepts == 0
    assert cal.detection.threshold == max(t for t in DET_THRESHOLDS if t <= 0.6)  # the highest that hears 0.6


def test_budget_that_cannot_be_met_or_resolved_is_refused_with_what_was_reached(traces):
    positive, placements, negative = traces
    blips = _trace(600, [(t, 10, 0.99) for t in range(10, 590, 20)])
    blips.duration_s = 7200.0
    with pytest.raises(ConfigError, match=r"wake\.target: no threshold reaches 0\.5 false accepts per hour .*fewest"):
        choose(positive, placements, blips, labels=LABELS, keywords=KEYWORDS, hop_s=HOP, refractory_s=1.0,
               target=0.5, where="wake.target")
    with pytest.raises(ConfigError, match=r"2\.00 h of negative audio cannot resolve 0\.1 .* at least 10\.0 h"):
        _choose(traces, target=0.1)
    cal = _choose(traces, target=0.1, require_resolved=False)
    assert cal.false_accepts == 0


def test_cli_writes_a_calibrated_artifact_that_keeps_the_model(yes_bundle, tmp_path):
    import stream_model
    import typer
    from typer.testing import CliRunner

    from sdk.calibrate import register

    rng = np.random.default_rng(3)
    (tmp_path / "background").mkdir()
    for i in range(3):
        soundfile.write(tmp_path / "background" / f"noise{i}.wav", stream_model.noise(rng, 20 * 16000, -30), 16000)
    (tmp_path / "keywords" / "yes").mkdir(parents=True)
    for i, speed in enumerate((140, 190)):
        clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=speed)
        soundfile.write(tmp_path / "keywords" / "yes" / f"{i}.wav", np.pad(clip, 3000), 16000)
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)
    out = tmp_path / "calibrated.tflite"
    args = ["calibrate", yes_bundle.source, "--out", str(out), "--background", str(tmp_path / "background"),
            "--keywords-dir", str(tmp_path / "keywords"), "--snr-db", "20", "--target", "30"]
    refused = CliRunner().invoke(app, args)  # one minute of background cannot resolve 30 per hour
    assert refused.exit_code != 0 and "cannot resolve" in str(refused.exception) and not out.exists()
    result = CliRunner().invoke(app, [*args, "--allow-unresolved"])
    assert result.exit_code == 0, result.output
    again = Bundle.load(out)
    cal = again.provenance["calibration"]
    assert again.detection.threshold == cal["detection"]["threshold"] and f"threshold {again.detection.threshold:g}" in result.output
    assert cal["negative_hours"] == pytest.approx(60 / 3600) and cal["positives"] >= 1 and cal["miss_rate"] < 1
    assert again.labels == yes_bundle.labels and again.inputs == yes_bundle.inputs

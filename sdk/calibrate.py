"""Choose a detector's threshold and smoothing for a false-accept budget per hour.

A wake word is judged by its misses at a fixed rate of false accepts per hour
on audio without it (television, talk, music). ``calibrate`` runs the model
once over held-back negative audio and once over a stream of held-back
positives, then tries every (smoothing, hits in a row, threshold) on those two
score traces (``sdk.det``) and keeps the one with the fewest misses whose false
accepts fit the budget. The budget is a count, ``floor(target * hours)``: on 3 h
at 0.5 per hour at most one false accept may occur. Audio too short to hold one
false accept at the target cannot tell the rate apart from zero, and is refused
unless asked otherwise.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from sdk.bundle import Bundle, DetectionDefaults
from sdk.det import DET_THRESHOLDS, EventRule, sweep
from sdk.detector import Detector
from sdk.errors import ConfigError
from sdk.stream_eval import Placement, ScoreTrace, trace_scores

SMOOTHING_HOPS = (1, 2, 3, 5)
MIN_COUNTS = (1, 2)


@dataclass(frozen=True)
class Calibration:
    """The chosen detection settings and what they measured on the calibration audio."""

    detection: DetectionDefaults
    target_false_accepts_per_hour: float
    false_accepts: int
    false_accepts_per_hour: float
    miss_rate: float
    positives: int
    negative_hours: float

    def as_dict(self) -> dict:
        return {**asdict(self), "detection": asdict(self.detection)}


def choose(positive: ScoreTrace, placements: Sequence[Placement], negative: ScoreTrace, *, labels: Sequence[str],
           keywords: Sequence[str], hop_s: float, refractory_s: float, target: float,
           smoothing_hops: Sequence[int] = SMOOTHING_HOPS, min_counts: Sequence[int] = MIN_COUNTS,
           thresholds: Sequence[float] = DET_THRESHOLDS, require_resolved: bool = True,
           where: str = "calibration") -> Calibration:
    """The settings with the fewest misses among those within the false-accept budget (then the higher threshold).

    Settings that hear none of the positives do not count, however quiet they are.
    """
    if not target > 0:
        raise ConfigError(f"{where}: target false accepts per hour must be positive, got {target!r}")
    if not placements:
        raise ConfigError(f"{where}: no positives were placed in the calibration stream")
    hours = negative.duration_s / 3600.0
    if require_resolved and hours * target < 1.0:
        raise ConfigError(f"{where}: {hours:.2f} h of negative audio cannot resolve {target:g} false accepts per hour; "
                          f"it needs at least {1.0 / target:.1f} h")
    budget = math.floor(target * hours + 1e-9)
    best, fewest = None, None
    for window in smoothing_hops:
        for min_count in min_counts:
            rule = EventRule(tuple(labels), tuple(keywords), window, min_count, refractory_s)
            misses = sweep(positive, placements, rule, thresholds=thresholds)
            accepts = sweep(negative, [], rule, thresholds=thresholds)
            for m, a in zip(misses, accepts):
                if m["false_reject_rate"] >= 1.0:  # hears none of the positives: not a setting
                    continue
                candidate = (m["false_reject_rate"], -m["threshold"], window, min_count, a["false_accepts"])
                if fewest is None or (a["false_accepts"], m["false_reject_rate"]) < fewest[:2]:
                    fewest = (a["false_accepts"], m["false_reject_rate"], m["threshold"], window, min_count)
                if a["false_accepts"] <= budget and (best is None or candidate < best):
                    best = candidate
    if fewest is None:
        raise ConfigError(f"{where}: the model detects none of the {len(placements)} positives at any threshold")
    if best is None:
        count, miss, threshold, window, min_count = fewest
        raise ConfigError(
            f"{where}: no threshold reaches {target:g} false accepts per hour ({budget} in {hours:.2f} h); the fewest "
            f"reached were {count} ({count / hours:.2f} per hour) at threshold {threshold:g}, smoothing "
            f"{window} hops, {min_count} hits in a row, missing {miss:.1%} of positives")
    miss, neg_threshold, window, min_count, false_accepts = best
    detection = DetectionDefaults(threshold=-neg_threshold, smoothing_s=window * hop_s, refractory_s=refractory_s,
                                  min_count=min_count, hop_s=hop_s)
    return Calibration(detection, target, false_accepts, false_accepts / hours, miss, len(placements), hours)


def calibrate(bundle: Bundle, negatives: np.ndarray, positives: np.ndarray, placements: Sequence[Placement], *,
              target: float, sample_rate: int, hop_s: float | None = None, refractory_s: float | None = None,
              **options) -> Calibration:
    """Score both streams with ``bundle`` (once each) and :func:`choose` the settings."""
    detector = Detector(bundle, hop_s=hop_s, refractory_s=refractory_s)
    negative = trace_scores(detector, negatives, sample_rate)
    positive = trace_scores(detector, positives, sample_rate)
    keywords = list(detector.thresholds)
    return choose(positive, placements, negative, labels=detector.labels, keywords=keywords, hop_s=detector.hop_s,
                  refractory_s=detector.refractory_s, target=target, **options)


def with_calibration(bundle: Bundle, calibration: Calibration) -> Bundle:
    """The same model with the calibrated detection settings, and what they measured in its provenance."""
    thresholds = {label: calibration.detection.threshold for label in bundle.detection.thresholds}
    detection = replace(calibration.detection, thresholds=thresholds)
    return Bundle.create(bundle.model, frontend=bundle.frontend, heads=bundle.heads, name=bundle.name, task=bundle.task,
                         aggregate=bundle.aggregate, detection=detection,
                         provenance={**bundle.provenance, "calibration": calibration.as_dict()},
                         streaming=bundle.streaming or None)


# -------------------------------------------------------------------- CLI
def calibrate_command(model, keywords_dir, manifest, background, out, target, snr_db, max_background_h,
                      require_resolved, seed) -> Calibration:
    """Calibrate ``model`` on the user's audio; write the calibrated artifact to ``out``."""
    import typer

    from sdk.stream_eval import audio_files, background_once, build_stream, keyword_files

    bundle = Bundle.load(model)
    if not background:
        raise ConfigError("calibrate: give at least one --background file or folder (audio without the keyword)")
    files = [f for path in background for f in audio_files(path)]
    rate = bundle.frontend.sample_rate
    negatives = background_once(files, sample_rate=rate, max_s=None if max_background_h is None else max_background_h * 3600)
    clips = keyword_files(list(Detector(bundle).thresholds), keywords_dir=keywords_dir, manifest=manifest)
    count = sum(len(v) for v in clips.values())
    positives, placements = build_stream(clips, files, sample_rate=rate, duration_s=10.0 * count, snr_db=snr_db,
                                         keywords_per_minute=6.0, rng=np.random.default_rng(seed))
    cal = calibrate(bundle, negatives, positives, placements, target=target, sample_rate=rate,
                    require_resolved=require_resolved, where=f"calibrate {model}")
    with_calibration(bundle, cal).save(out)
    d = cal.detection
    typer.echo(f"{out}: threshold {d.threshold:g}, smoothing {d.smoothing_s:g} s, {d.min_count} hit(s) in a row: "
               f"{cal.false_accepts} false accepts in {cal.negative_hours:.2f} h ({cal.false_accepts_per_hour:.2f} per "
               f"hour), missed {cal.miss_rate:.1%} of {cal.positives} positives")
    return cal


def register(app) -> None:
    import typer

    def calibrate_cli(
        model: Path = typer.Argument(..., help="Model artifact."),
        out: Path = typer.Option(..., help="Write the calibrated artifact here."),
        background: list[Path] = typer.Option(None, help="Audio without the keyword, file or folder; repeatable."),
        keywords_dir: Path = typer.Option(None, help="Folder with one sub-folder of clips per keyword label."),
        manifest: Path = typer.Option(None, help="CSV with columns path,label (paths relative to it)."),
        target: float = typer.Option(0.5, help="False accepts per hour to stay within."),
        snr_db: list[float] = typer.Option(None, help="Keyword SNR over the background in dB; repeatable."),
        max_background_h: float = typer.Option(None, help="Use at most this much background."),
        allow_unresolved: bool = typer.Option(False, help="Accept background too short to resolve the target."),
        seed: int = typer.Option(0, help="Random seed for the positives' stream."),
    ):
        """Choose threshold and smoothing for a false-accept budget per hour, on your own audio."""
        calibrate_command(model, keywords_dir, manifest, background, out, target, snr_db or [10.0], max_background_h,
                          not allow_unresolved, seed)

    app.command("calibrate")(calibrate_cli)

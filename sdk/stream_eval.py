"""Stream evaluation: keywords placed in long real backgrounds, scored like a live device.

``build_stream`` lays keyword clips into background audio (noise, music,
non-keyword talk) at known times and a known SNR. ``trace_scores`` runs a
Detector over the stream once and records each hop's raw posterior (the
Detector's own resampling, front end, hops and voice gate). ``sweep`` then
applies the Detector's smoothing and event rules (``sdk.smoothing``) for every
threshold on that one trace, and matches events to the truth:

* an event of label L matches a keyword of label L if its ``time_s`` lies in
  ``[keyword start, keyword end + tolerance_s]`` (the model decides after it
  has heard the word, so events come late, never early);
* each keyword matches at most one event; every other event (a second event
  for one keyword included) is a false accept;
* false-reject rate = missed keywords / keywords; false accepts per hour are
  counted over the whole stream length.
"""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sdk.audio import AUDIO_SUFFIXES, load_audio
from sdk.audio import audio_files as _audio_files
from sdk.detector import Detector
from sdk.errors import AudioError, ConfigError
from sdk.det import DET_THRESHOLDS, EventRule, miss_at_false_accepts, plot_det, sweep

@dataclass(frozen=True)
class Placement:
    """One keyword in the stream: where its audible part is, and how loud against the background."""

    label: str
    start_s: float
    end_s: float
    snr_db: float
    source: str


@dataclass
class ScoreTrace:
    """Raw per-hop posteriors of one Detector run; enough to replay any threshold."""

    times_s: np.ndarray  # (hops,) end of each hop's window
    posteriors: np.ndarray  # (hops, labels); the gate's silence posterior where it skipped
    skipped: np.ndarray  # (hops,) bool
    duration_s: float
    processing_s: float


# ----------------------------------------------------------------- inputs
def audio_files(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise AudioError(f"{path}: no such file or folder")
    files = _audio_files(path, recursive=True)
    if not files:
        raise AudioError(f"{path}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES)[:6])}, ...) in this folder")
    return files


def keyword_files(labels: Sequence[str], *, keywords_dir=None, manifest=None) -> dict[str, list[Path]]:
    """Keyword clips per label: ``keywords_dir/<label>/*.wav`` or a CSV manifest with ``path,label``."""
    if (keywords_dir is None) == (manifest is None):
        raise ConfigError("give either keywords_dir (one sub-folder per label) or manifest (CSV path,label)")
    found: dict[str, list[Path]] = {label: [] for label in labels}
    if keywords_dir is not None:
        root = Path(keywords_dir)
        if not root.is_dir():
            raise AudioError(f"{root}: keywords_dir is not a folder")
        for label in labels:
            if (root / label).is_dir():
                found[label] = audio_files(root / label)
    else:
        manifest = Path(manifest)
        try:
            with open(manifest, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise ConfigError(f"{manifest}: cannot read manifest ({exc.strerror})") from None
        if rows and not {"path", "label"} <= set(rows[0]):
            raise ConfigError(f"{manifest}: manifest needs columns 'path' and 'label', has {sorted(rows[0])}")
        for row in rows:
            if row["label"] in found:
                found[row["label"]].append(manifest.parent / row["path"])
    found = {label: files for label, files in found.items() if files}
    if not found:
        where = keywords_dir if keywords_dir is not None else manifest
        raise ConfigError(f"{where}: no clips for any of the model's keywords {list(labels)}")
    return found


def active_part(samples: np.ndarray, sample_rate: int, *, below_peak_db: float = 30.0, margin_s: float = 0.05):
    """``(start, end)`` sample indices of the audible part: 10 ms frames within ``below_peak_db`` of the loudest."""
    frame = max(1, sample_rate // 100)
    count = samples.shape[0] // frame
    if count == 0:
        return 0, samples.shape[0]
    power = np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1) + 1e-12
    loud = np.flatnonzero(10 * np.log10(power / power.max()) > -below_peak_db)
    margin = int(margin_s * sample_rate)
    return max(0, loud[0] * frame - margin), min(samples.shape[0], (loud[-1] + 1) * frame + margin)


# ------------------------------------------------------------------ build
def build_stream(
    clips: dict[str, list[Path]],
    backgrounds: Sequence[Path],
    *,
    sample_rate: int,
    duration_s: float,
    snr_db: Sequence[float] = (10.0,),
    keywords_per_minute: float = 4.0,
    background_db: float = -30.0,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[Placement]]:
    """A stream of ``duration_s`` background with keywords at known times.

    Background files are drawn at random and joined, each at ``background_db``
    dBFS RMS (silent files are skipped). Keywords fall one per slot of
    ``60 / keywords_per_minute`` seconds, at a random time inside the slot,
    scaled so that their audible part is ``snr_db`` (drawn from the list) above
    the background under it.
    """
    if not duration_s > 0 or not keywords_per_minute > 0:
        raise ConfigError(f"build_stream: duration_s={duration_s} and keywords_per_minute={keywords_per_minute} must be positive")
    if not backgrounds:
        raise ConfigError("build_stream: no background files")
    total = int(duration_s * sample_rate)
    stream = np.zeros(total, np.float32)
    filled, attempts = 0, 0
    while filled < total:
        attempts += 1
        if attempts > 20 * len(backgrounds) + 100:
            raise AudioError("build_stream: background files are all silent or empty")
        path = backgrounds[int(rng.integers(len(backgrounds)))]
        piece = load_audio(path, sample_rate)
        rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if piece.size else 0.0
        if rms < 1e-5:
            continue
        piece = piece * np.float32(10 ** (background_db / 20) / rms)
        take = min(piece.shape[0], total - filled)
        stream[filled : filled + take] = piece[:take]
        filled += take

    labels = sorted(clips)
    slot_s = 60.0 / keywords_per_minute
    placements = []
    for slot in range(int(duration_s // slot_s)):
        label = labels[int(rng.integers(len(labels)))]
        path = clips[label][int(rng.integers(len(clips[label])))]
        clip = load_audio(path, sample_rate)
        begin, end = active_part(clip, sample_rate)
        clip = clip[begin:end]
        if clip.shape[0] >= slot_s * sample_rate - 1 or not np.any(clip):
            continue
        latest = int(slot_s * sample_rate) - clip.shape[0]
        start = int(slot * slot_s * sample_rate) + int(rng.integers(0, latest))
        under = stream[start : start + clip.shape[0]]
        noise_rms = float(np.sqrt(np.mean(under.astype(np.float64) ** 2))) + 1e-9
        clip_rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2)))
        snr = float(snr_db[int(rng.integers(len(snr_db)))])
        stream[start : start + clip.shape[0]] += clip * np.float32(noise_rms * 10 ** (snr / 20) / clip_rms)
        placements.append(Placement(label, start / sample_rate, (start + clip.shape[0]) / sample_rate, snr, str(path)))
    peak = float(np.max(np.abs(stream)))
    if peak > 1.0:  # keep it a valid recording; SNRs are unchanged
        stream /= np.float32(peak)
    return stream, placements


def background_once(files: Sequence[Path], *, sample_rate: int, max_s: float | None = None,
                    background_db: float = -30.0) -> np.ndarray:
    """Every file once, in order, each at ``background_db`` dBFS RMS (silent ones left out), up to ``max_s``.

    For counting false accepts per hour: no second of audio counts twice.
    """
    pieces, total = [], 0
    limit = None if max_s is None else int(max_s * sample_rate)
    for path in files:
        piece = load_audio(path, sample_rate)
        rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if piece.size else 0.0
        if rms < 1e-5:
            continue
        pieces.append(piece * np.float32(10 ** (background_db / 20) / rms))
        total += piece.shape[0]
        if limit is not None and total >= limit:
            break
    if not pieces:
        raise AudioError(f"no audible background audio in {len(files)} file(s)")
    return np.clip(np.concatenate(pieces)[:limit], -1.0, 1.0)


# ------------------------------------------------------------------ score
def trace_scores(detector: Detector, samples: np.ndarray, sample_rate: int, *, block_s: float = 1.0) -> ScoreTrace:
    """Run ``detector`` over a whole stream once, recording every hop's raw posterior."""
    times, rows, skipped = [], [], []

    def record(end_s, posterior):
        times.append(end_s)
        skipped.append(posterior is None)
        rows.append(detector.silent_posterior if posterior is None else np.asarray(posterior, np.float32))

    detector.reset()
    detector.hop_listener = record
    try:
        block = max(1, int(block_s * sample_rate))
        for start in range(0, samples.shape[0], block):
            detector.feed(samples[start : start + block], sample_rate)
        detector.flush()
    finally:
        detector.hop_listener = None
    return ScoreTrace(
        times_s=np.asarray(times, np.float64),
        posteriors=np.asarray(rows, np.float32).reshape(len(rows), len(detector.labels)),
        skipped=np.asarray(skipped, bool),
        duration_s=samples.shape[0] / sample_rate,
        processing_s=detector.stats.processing_s,
    )


def evaluate_stream(
    detector: Detector,
    clips: dict[str, list[Path]],
    backgrounds: Sequence[Path],
    *,
    duration_s: float = 600.0,
    snr_db: Sequence[float] = (10.0,),
    keywords_per_minute: float = 4.0,
    tolerance_s: float = 1.0,
    thresholds: Sequence[float] | None = None,
    seed: int = 0,
) -> dict:
    """Build a stream, score it once, sweep thresholds; a JSON-ready report."""
    rate = detector.bundle.frontend.sample_rate
    stream, placements = build_stream(
        clips, backgrounds, sample_rate=rate, duration_s=duration_s, snr_db=snr_db,
        keywords_per_minute=keywords_per_minute, rng=np.random.default_rng(seed),
    )
    trace = trace_scores(detector, stream, rate)
    grid = sorted(set(DET_THRESHOLDS if thresholds is None else thresholds) | set(detector.thresholds.values()))
    rows = sweep(trace, placements, EventRule.of(detector), thresholds=grid, tolerance_s=tolerance_s)
    default = next(r for r in rows if r["threshold"] == float(min(detector.thresholds.values())))
    return {
        "model": detector.bundle.name,
        "source": detector.bundle.source,
        "stream": {
            "duration_s": trace.duration_s,
            "keywords": len(placements),
            "keywords_by_label": {label: sum(p.label == label for p in placements) for label in sorted(clips)},
            "snr_db": list(snr_db),
            "keywords_per_minute": keywords_per_minute,
            "backgrounds": len(backgrounds),
            "seed": seed,
        },
        "settings": {
            "hop_s": detector.hop_s, "smoothing_s": detector.smoothing_s, "min_count": detector.min_count,
            "refractory_s": detector.refractory_s, "vad": detector.vad, "tolerance_s": tolerance_s,
        },
        "operating_point": default,
        "miss_at_false_accepts_per_hour": miss_at_false_accepts(rows, trace.duration_s),
        "det": rows,
        "inferences": int((~trace.skipped).sum()),
        "skipped": int(trace.skipped.sum()),
        "real_time_factor": trace.processing_s / trace.duration_s,
        "placements": [asdict(p) for p in placements],
    }


# -------------------------------------------------------------------- CLI
def evaluate_stream_command(
    model: Path,
    keywords_dir: "Path | None" = None,
    manifest: "Path | None" = None,
    background: "list[Path] | None" = None,
    duration_s: float = 600.0,
    snr_db: "list[float] | None" = None,
    keywords_per_minute: float = 4.0,
    tolerance_s: float = 1.0,
    seed: int = 0,
    vad: "str | None" = None,
    threshold: "float | None" = None,
    out: "Path | None" = None,
    plot: "Path | None" = None,
):
    """Build long streams from keyword clips and real backgrounds; report FRR, FA/hour and a DET curve."""
    import json

    import typer

    from sdk.bundle import Bundle

    bundle = Bundle.load(model)
    detector = Detector(bundle, vad=vad, threshold=threshold)
    clips = keyword_files(list(detector.thresholds), keywords_dir=keywords_dir, manifest=manifest)
    if not background:
        raise ConfigError("evaluate-stream: give at least one --background file or folder")
    backgrounds = [f for path in background for f in audio_files(path)]
    report = evaluate_stream(
        detector, clips, backgrounds, duration_s=duration_s, snr_db=snr_db or [10.0],
        keywords_per_minute=keywords_per_minute, tolerance_s=tolerance_s, seed=seed,
    )
    report["background_paths"] = [str(p) for p in background]
    if plot is not None:
        report["plot"] = str(plot) if plot_det(report["det"], plot, title=f"{bundle.name}: stream DET") else None
        if report["plot"] is None:
            typer.echo("note: matplotlib is not installed; no DET plot written", err=True)
    text = json.dumps(report, indent=2)
    if out is not None:
        Path(out).write_text(text)
    op = report["operating_point"]
    typer.echo(
        f"{report['stream']['duration_s'] / 3600:.2f} h, {report['stream']['keywords']} keywords: at threshold "
        f"{op['threshold']:.2f} false-reject rate {op['false_reject_rate']:.3f}, "
        f"{op['false_accepts_per_hour']:.1f} false accepts per hour (RTF {report['real_time_factor']:.4f})"
    )
    for point in report["miss_at_false_accepts_per_hour"]:
        typer.echo(_describe(point))
    if out is None:
        typer.echo(text)


def _describe(point: dict) -> str:
    at = f"at <= {point['false_accepts_per_hour_target']:g} false accepts per hour: "
    if point["threshold"] is None:
        return at + "no threshold in the sweep gets there"
    note = "" if point["resolved"] else f" (too little background to resolve this rate; {point['note']})"
    return (at + f"miss rate {point['false_reject_rate']:.3f} at threshold {point['threshold']:.4f}, "
            f"{point['false_accepts_per_hour']:.2f} per hour measured{note}")


def register(app) -> None:
    import typer

    def evaluate_stream_cli(
        model: Path = typer.Argument(..., help="Model artifact."),
        keywords_dir: Path = typer.Option(None, help="Folder with one sub-folder of clips per keyword label."),
        manifest: Path = typer.Option(None, help="CSV with columns path,label (paths relative to it)."),
        background: list[Path] = typer.Option(None, help="Background audio file or folder; repeatable."),
        duration_s: float = typer.Option(600.0, help="Length of the test stream."),
        snr_db: list[float] = typer.Option(None, help="Keyword SNR in dB; repeatable (each keyword draws one)."),
        keywords_per_minute: float = typer.Option(4.0, help="Keyword density."),
        tolerance_s: float = typer.Option(1.0, help="An event may come this long after the keyword ends."),
        seed: int = typer.Option(0, help="Random seed for the stream."),
        vad: str = typer.Option(None, help="Voice gate: energy or webrtc."),
        threshold: float = typer.Option(None, help="Operating threshold (default from the model)."),
        out: Path = typer.Option(None, help="Write the JSON report here."),
        plot: Path = typer.Option(None, help="Write a DET curve PNG here (needs matplotlib)."),
    ):
        """Stream evaluation: false rejects and false accepts per hour over long real backgrounds."""
        evaluate_stream_command(model, keywords_dir, manifest, background, duration_s, snr_db, keywords_per_minute,
                                tolerance_s, seed, vad, threshold, out, plot)

    app.command("evaluate-stream")(evaluate_stream_cli)

"""Runtime commands: ``auricle classify`` and ``auricle inspect``."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import List

import typer

from sdk.bundle import Bundle
from sdk.classify import classify_file
from sdk.engine import Engine
from sdk.errors import AuricleError


def classify(
    model: Path = typer.Argument(..., help="Model artifact (.tflite with Auricle metadata)."),
    files: List[Path] = typer.Argument(..., help="Audio files: WAV, FLAC or OGG, any rate and channels."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file, one per line."),
    top: int = typer.Option(1, help="Show this many labels per file."),
    threads: int = typer.Option(1, help="LiteRT CPU threads."),
):
    """Print the label and score of each audio file."""
    bundle = Bundle.load(model)
    engine = Engine(bundle, threads=threads)
    failed = 0
    for path in files:
        try:
            result = classify_file(bundle, path, engine=engine)
        except AuricleError as exc:  # one bad file does not lose the others' results
            failed += 1
            typer.echo(f"error: {exc}", err=True)
            continue
        if as_json:
            typer.echo(json.dumps(asdict(result)))
            continue
        ranked = sorted(result.scores[bundle.heads[0].name].items(), key=lambda kv: -kv[1])[:top]
        typer.echo(f"{path}\t" + "\t".join(f"{label}\t{score:.3f}" for label, score in ranked))
        for head in bundle.heads[1:]:
            head_scores = result.scores[head.name]
            best = max(head_scores, key=head_scores.get)
            typer.echo(f"{path}\t[{head.name}]\t{best}\t{head_scores[best]:.3f}")
    if failed:
        raise typer.Exit(1)


def inspect(
    model: Path = typer.Argument(..., help="Model artifact."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
):
    """Print what a model artifact holds: labels, front end, tensors, provenance."""
    info = Bundle.load(model).describe()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    typer.echo(f"{info['source']}: {info['name']} ({info['task']}), {info['model_bytes']:,} bytes")
    for head in info["heads"]:
        typer.echo(f"  head {head['name']}: {', '.join(head['labels'])}")
    fe = info["frontend"]
    if fe.get("kind") == "speech_embedding":
        typer.echo(f"  front end: Google's speech embedding (pyopen-wakeword), 96 values per {fe['window_ms']:g} ms "
                   f"window, hop {fe['hop_ms']:g} ms, clip {fe['clip_s']} s")
    else:
        kind = f"{fe['n_mfcc']} MFCC" if fe["n_mfcc"] else f"{fe['n_mels']} log-mel"
        typer.echo(
            f"  front end: {fe['sample_rate']} Hz, {kind}, window {fe['window_ms']} ms, hop {fe['hop_ms']} ms, "
            f"{fe['fmin_hz']}-{fe['fmax_hz']} Hz, clip {fe['clip_s']} s"
        )
    for kind, tensors in (("input", info["inputs"]), ("output", info["outputs"])):
        for t in tensors:
            quant = f", scale {t['scale']:.6g}, zero point {t['zero_point']}" if t["scale"] else ""
            typer.echo(f"  {kind} {t['name']}: {t['dtype']} {list(t['shape'])}{quant}")
    typer.echo(f"  detection: {info['detection']}")
    for key, value in info["provenance"].items():
        typer.echo(f"  {key}: {value}")


def register(app: typer.Typer) -> None:
    app.command()(classify)
    app.command()(inspect)

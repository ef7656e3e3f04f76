"""``auricle export-streaming RUN_DIR``: a trained run's model as a streaming int8 artifact."""
from __future__ import annotations

import json
import pathlib
from typing import Optional

import typer


def export_streaming(
    run_dir: pathlib.Path = typer.Argument(..., help="Trained run folder (recipe.yaml, model.keras, calibration.npy)."),
    out: Optional[pathlib.Path] = typer.Option(None, "--out", help="Folder for the artifact (default RUN_DIR/streaming)."),
    calibration: Optional[pathlib.Path] = typer.Option(
        None, "--calibration", help=".npy of feature windows (n, frames, features) for int8 calibration "
        "(default: the run's calibration.npy, which calibrated its model_int8.tflite)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder."),
):
    """Convert a trained model to a streaming int8 artifact the Detector runs one hop at a time."""
    from quantize.export.streaming_stage import MODE, convert_run

    folder = convert_run(run_dir, out=out, force=force, calibration=calibration)
    info = json.loads((folder / "metrics.json").read_text())["artifacts"][MODE]
    line = f"{folder / info['file']}\t{info['model_bytes']:,} B\t{info['frames_per_step']} frames per step"
    if "agreement_with_int8" in info:
        a = info["agreement_with_int8"]
        line += f"\tsame top label as model_int8 on {100 * a['top1_agreement']:.1f}% of {a['windows']} windows"
    typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add ``export-streaming`` to the ``auricle`` app."""
    app.command("export-streaming")(export_streaming)

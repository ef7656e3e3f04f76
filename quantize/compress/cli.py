"""``auricle compress RUN_DIR [--recipe FILE]``: apply compression stages to a run folder."""
from __future__ import annotations

import json
import pathlib
from typing import Optional

import typer

DEFAULT_STAGES = [{"prune": {"sparsity": 0.75}}, {"qat": {"epochs": 3}}]


def compress(
    run_dir: pathlib.Path = typer.Argument(..., help="Trained run folder (model.keras, metrics.json)."),
    recipe: Optional[pathlib.Path] = typer.Option(
        None, "--recipe", help="YAML with a 'compress:' list of stages (a whole recipe or the bare list). "
        "Default: prune to 75% sparsity, then 3 epochs of QAT."),
    data: Optional[pathlib.Path] = typer.Option(
        None, "--data", help=".npz with x_train, y_train, x_val, y_val, x_test, y_test (default: the run's features.npz)."),
    out: Optional[pathlib.Path] = typer.Option(None, "--out", help="Folder for the stage folders (default RUN_DIR/compress)."),
    force: bool = typer.Option(False, "--force", help="Replace existing stage folders."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Keras progress output."),
):
    """Distil, prune, cluster and quantize a trained model; each stage writes a new run folder."""
    from quantize.compress import stages as stages_mod
    from quantize.compress import recipe as compress_recipe

    stages = compress_recipe.load(recipe) if recipe else compress_recipe.parse(DEFAULT_STAGES)
    written = stages_mod.apply(run_dir, stages, out_dir=out, data=data, force=force, verbose=verbose)
    for folder in written:
        metrics = json.loads((folder / "metrics.json").read_text())
        parts = [f"{mode}: {a['tflite_bytes']:,} B" + (f", acc {100 * a['test']['accuracy']:.2f}%" if "test" in a else "")
                 for mode, a in metrics["artifacts"].items()]
        typer.echo(f"{folder}\tparams {metrics['model']['params']:,}\tMACs {metrics['model']['macs']:,}\t" + "; ".join(parts))


def register(app: typer.Typer) -> None:
    """Add ``compress`` to the ``auricle`` app (wired by the lead into quantize.cli.register)."""
    app.command("compress")(compress)

"""Training commands for ``auricle`` (registered through the auricle.cli entry point)."""
from __future__ import annotations

import logging
import pathlib
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the training side's commands to the ``auricle`` app."""
    from quantize.compress_cli import register as register_compress

    register_compress(app)

    @app.command("train")
    def train_command(
        recipe: str = typer.Argument(..., help="recipe YAML file, or a built-in name: default, speech_commands, fsdd"),
        out: Optional[pathlib.Path] = typer.Option(None, "--out", "-o", help="run folder (default: runs/<recipe name>)"),
        force: bool = typer.Option(False, "--force", help="replace an existing run folder"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no per-epoch lines"),
    ) -> None:
        """Train a keyword spotter from a recipe; write int8/float artifacts, metrics and a report."""
        from quantize import pipeline, recipe as qrecipe

        logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
        parsed = qrecipe.load(recipe)
        run_dir = out or pathlib.Path("runs") / parsed.name
        result = pipeline.run(parsed, run_dir, force=force, verbose=0 if quiet else None)
        import json

        metrics = json.loads((result / "metrics.json").read_text())
        typer.echo(f"run folder: {result}")
        typer.echo(f"float test accuracy: {100 * metrics['float']['test']['accuracy']:.2f}%")
        for mode, info in metrics["artifacts"].items():
            typer.echo(
                f"{info['file']}: {info['model_bytes']:,} bytes, test accuracy {100 * info['test']['accuracy']:.2f}%"
            )

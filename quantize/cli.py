"""Training commands for ``auricle`` (registered through the auricle.cli entry point)."""
from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import shutil
import tempfile
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the training side's commands to the ``auricle`` app."""
    from quantize.compress.cli import register as register_compress
    from quantize.export.cli import register as register_export

    register_compress(app)
    register_export(app)

    @app.command("train")
    def train_command(
        recipe: str = typer.Argument(..., help="recipe YAML file, or a built-in name: default, speech_commands, fsdd"),
        out: Optional[pathlib.Path] = typer.Option(None, "--out", "-o", help="run folder (default: runs/<recipe name>)"),
        force: bool = typer.Option(False, "--force", help="replace an existing run folder"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display, only the summary"),
        verbose: bool = typer.Option(False, "--verbose", "-v",
                                     help="TensorFlow's and Keras' own log lines instead of the progress display"),
    ) -> None:
        """Train a keyword spotter from a recipe; write int8/float artifacts, metrics and a report."""
        from rich.console import Console

        from quantize import progress

        if not verbose:
            progress.quiet_tensorflow()  # before TensorFlow is first imported
        from quantize import pipeline
        from quantize import recipe as qrecipe

        parsed = qrecipe.load(recipe)
        run_dir = out or pathlib.Path("runs") / parsed.name
        if verbose:
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            result = pipeline.run(parsed, run_dir, force=force, verbose=None)
        else:
            result = _run_calmly(pipeline, parsed, run_dir, force=force, quiet=quiet)
        print_summary(result, Console())


def _run_calmly(pipeline, parsed, run_dir: pathlib.Path, *, force: bool, quiet: bool) -> pathlib.Path:
    """The pipeline with a progress display; what C++ code prints goes to ``tensorflow.log`` in the run folder."""
    from rich.console import Console
    from rich.logging import RichHandler

    from quantize import progress

    with progress.terminal_stream() as stream:
        console = Console(file=stream)
        handler = RichHandler(console=console, show_time=False, show_path=False)
        logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler], force=True)
        reporter = contextlib.nullcontext() if quiet else progress.reporting(progress.RichReporter(console))
        with tempfile.NamedTemporaryFile(prefix="auricle-native-", suffix=".log", delete=False) as native:
            native_log = pathlib.Path(native.name)
        try:
            with reporter, progress.native_output_to(native_log):
                result = pipeline.run(parsed, run_dir, force=force, verbose=0 if quiet else None)
        except BaseException:
            if native_log.stat().st_size:  # it may say why
                console.print(f"[dim]TensorFlow's own output for this run: {native_log}[/dim]")
            else:
                native_log.unlink()
            raise
        if native_log.stat().st_size:
            shutil.move(native_log, result / "tensorflow.log")  # /tmp may be another file system
        else:
            native_log.unlink()
    return result


def print_summary(run_dir: pathlib.Path, console) -> None:
    """A table of what the run made: data, training, and each artifact's size and test accuracy."""
    from rich.table import Table

    metrics = json.loads((run_dir / "metrics.json").read_text())
    data, training = metrics["data"], metrics["training"]
    table = Table(title=f"{metrics['name']}: {run_dir}", title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("test accuracy", justify="right")
    table.add_row("labels", str(len(metrics["labels"])), "")
    table.add_row("clips train / val / test", " / ".join(str(data[s]["clips"]) for s in ("train", "val", "test")), "")
    table.add_row(f"model {metrics['model']['name']}", f"{metrics['model']['params']:,} params", "")
    table.add_row("epochs (best)", f"{training['epochs_run']} ({training['best_epoch']})",
                  f"val {100 * training['best_val_accuracy']:.1f} %")
    table.add_row("float (Keras)", "", f"{100 * metrics['float']['test']['accuracy']:.2f} %")
    for info in metrics["artifacts"].values():
        table.add_row(info["file"], f"{info['model_bytes']:,} bytes", f"{100 * info['test']['accuracy']:.2f} %")
    table.add_row("time", f"{metrics['timings_s']['total_s']:.0f} s", "")
    console.print(table)

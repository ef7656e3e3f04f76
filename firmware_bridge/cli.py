"""Microcontroller commands for ``auricle`` (registered through the auricle.cli entry point)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def export_mcu(
    model: Path = typer.Argument(..., help="Model artifact (.tflite with Auricle metadata)."),
    out_dir: Path = typer.Argument(..., help="Folder for the C/C++ sources and the report."),
    name: Optional[str] = typer.Option(None, help="C namespace and file prefix (default: the model's name)."),
    arena_margin: float = typer.Option(1.1, help="kTensorArenaSize = measured arena x this, rounded up to 16."),
    keep_metadata: bool = typer.Option(False, help="Keep Auricle's JSON metadata in the C array (more flash)."),
    force: bool = typer.Option(False, "--force", help="Overwrite generated files already in OUT_DIR."),
    flash_kb: Optional[float] = typer.Option(None, help="Refuse a model whose array + TFLM runtime exceed this flash."),
    ram_kb: Optional[float] = typer.Option(None, help="Refuse a model whose arena + firmware buffers exceed this RAM."),
):
    """Write TFLite Micro sources (model array, config header, op resolver) and verify them under TFLM."""
    from firmware_bridge.export import export
    from sdk.bundle import Bundle

    result = export(
        Bundle.load(model), out_dir, name=name, arena_margin=arena_margin, strip=not keep_metadata, overwrite=force,
        flash_kb=flash_kb, ram_kb=ram_kb,
    )
    report = result.report
    for path in result.files:
        typer.echo(f"wrote {path}")
    typer.echo(
        f"{result.name}: ops {', '.join(result.ops)}; arena {result.arena_measured_bytes} B measured, "
        f"kTensorArenaSize {result.arena_bytes} B; model array {result.model_bytes} B "
        f"({result.model_bytes_with_metadata} B with metadata); TFLM vs LiteRT max diff "
        f"{report['max_diff_steps']} steps (reference kernels; XNNPACK {report['max_diff_steps_xnnpack']}) "
        f"over {report['windows']} windows"
    )
    if report["max_diff_steps"] is not None and report["max_diff_steps"] > 1:
        typer.echo(f"warning: TFLM differs from LiteRT by {report['max_diff_steps']} int8 steps (expected <= 1)", err=True)
    typer.echo(json.dumps(report["flash"]))


def register(app: typer.Typer) -> None:
    """Add the firmware bridge's commands to the ``auricle`` app."""
    app.command("export-mcu")(export_mcu)

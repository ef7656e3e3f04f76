"""Microcontroller commands for ``auricle`` (registered through the auricle.cli entry point)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the firmware bridge's commands to the ``auricle`` app."""

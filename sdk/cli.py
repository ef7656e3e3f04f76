"""``auricle``: a thin command line over the library functions.

Runtime commands live in ``sdk`` modules listed in ``_SDK_COMMANDS``; the
training and firmware packages add theirs through the ``auricle.cli`` entry
point group (see setup.py), so ``sdk`` never imports them and a Raspberry Pi
without TensorFlow still gets a working ``auricle``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from typing import List, Optional

import typer

from sdk.errors import AuricleError

app = typer.Typer(
    name="auricle",
    help="Audio recognition on the edge: train, compress, inspect and run keyword spotters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# sdk modules that define ``register(app)``; each adds runtime commands.
_SDK_COMMANDS = ("sdk.commands", "sdk.listen", "sdk.stream_eval", "sdk.calibrate", "sdk.wyoming_service")
# Optional modules and the extra that installs each; a command that needs a
# missing one says which extra to install instead of printing a traceback.
EXTRA_FOR_MODULE = {
    "tensorflow": "train", "tf_keras": "train", "tensorflow_model_optimization": "train", "yaml": "train",
    "pydantic": "train", "matplotlib": "train", "pyroomacoustics": "train",
    "sounddevice": "mic", "webrtcvad": "mic", "paho": "iot", "wyoming": "wyoming",
    "tflite_micro": "mcu", "serial": "mcu",
}
# Used when auricle runs from a source tree without being pip-installed. A runtime-only
# copy (sdk/ alone, as deploy/aarch64/check.sh puts on a Pi) has none of these packages.
_FALLBACK_PLUGINS = ("quantize.cli", "firmware_bridge.cli")


def _plugin_targets() -> List[str]:
    entry_points = list(importlib.metadata.entry_points(group="auricle.cli"))
    if entry_points:
        return [ep.value for ep in entry_points]
    present = [m for m in _FALLBACK_PLUGINS if importlib.util.find_spec(m.split(".")[0]) is not None]
    return [f"{m}:register" for m in present]


def _register_plugins() -> None:
    for name in _SDK_COMMANDS:
        importlib.import_module(name).register(app)
    for target in _plugin_targets():
        # Plugin modules import only typer at the top; a missing extra (TensorFlow, ...)
        # shows when a command runs, and main() names the extra to install.
        module_name, _, func = target.partition(":")
        getattr(importlib.import_module(module_name), func)(app)


def main(argv: Optional[List[str]] = None) -> int:
    """Console entry point; an AuricleError becomes a one-line message and exit code 2."""
    _register_plugins()
    try:
        app(args=argv, prog_name="auricle")  # click ends with SystemExit carrying its code
    except AuricleError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in EXTRA_FOR_MODULE:
            raise
        extra = EXTRA_FOR_MODULE[missing]
        typer.echo(f"error: this command needs the '{extra}' extra (pip install 'auricle[{extra}]'): {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One shape for every committed benchmark result.

Each JSON under ``benchmarks/results/`` is written by :func:`write` and holds
the command that produced it, the machine and package versions it ran on, the
seeds, and the figures. ``benchmarks/readme_tables.py`` reads these files to
write the README's tables, so a figure in the README always has a file and a
command behind it.
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shlex
import sys
from importlib import metadata

_PACKAGES = ("auricle", "numpy", "ai-edge-litert", "tensorflow", "tf-keras", "tflite-micro",
             "pyopen-wakeword", "pymicro-wakeword")


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Where a figure was measured: CPU, cores, OS, Python and package versions."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def command_line() -> str:
    """The command that is running, as a reader would retype it."""
    argv = [pathlib.Path(sys.argv[0]).as_posix()] + sys.argv[1:]
    try:
        argv[0] = str(pathlib.Path(argv[0]).resolve().relative_to(pathlib.Path.cwd()))
    except ValueError:
        pass
    return "python " + shlex.join(argv)


def write(path, results: dict, *, seeds=None, command: str | None = None, elapsed_s: float | None = None) -> pathlib.Path:
    """Write ``results`` with their provenance to ``path`` (folders made as needed)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": command or command_line(),
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "seeds": list(seeds) if seeds is not None else None,
        "elapsed_s": None if elapsed_s is None else round(float(elapsed_s), 1),
        "results": results,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def read(path) -> dict:
    """A result document written by :func:`write`."""
    return json.loads(pathlib.Path(path).read_text())

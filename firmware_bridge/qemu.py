"""Run the Cortex-M4 firmware on QEMU's mps2-an386 and read its serial link like a real board's.

The firmware (``examples/firmware`` with ``boards/mps2_an386.c``) reads raw
16-bit audio from a host file through Arm semihosting, prints diagnostics
through semihosting, exits with its own code, and writes framed events to
UART0, which QEMU serves on a TCP port; ``SerialLink`` reads them as it would
``/dev/ttyACM0``. ``-icount shift=0`` makes QEMU's clock advance one
nanosecond per guest instruction, which the board turns into an instruction
counter.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sdk.errors import ConfigError, LinkError

QEMU = "qemu-system-arm"


@dataclass
class QemuRun:
    """What one firmware run produced."""

    returncode: int
    log: str  # the firmware's semihosting output (board_log lines)
    messages: list = field(default_factory=list)  # protocol messages, in order
    events: list = field(default_factory=list)  # DETECTIONs as sdk Detection events (SerialLink.to_event)
    rejects: int = 0  # frames SerialLink's decoder rejected
    wall_s: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect(port: int, bundle, process: subprocess.Popen, deadline: float):
    from firmware_bridge.serial_link import SerialLink

    while True:
        try:
            return SerialLink(f"socket://127.0.0.1:{port}", bundle=bundle, silence_timeout_s=120, read_timeout_s=0.2)
        except LinkError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_mps2_an386(elf: str | os.PathLike, audio: str | os.PathLike, *, bundle=None, timeout_s: float = 600) -> QemuRun:
    """Boot ``elf`` on mps2-an386 with ``audio`` (raw int16 LE) as its input; collect what it sends."""
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise ConfigError(f"{QEMU} is not installed (Debian: qemu-system-arm)")
    port = _free_port()
    command = [qemu, "-machine", "mps2-an386", "-display", "none", "-monitor", "none", "-icount", "shift=0",
               "-semihosting-config", f"enable=on,target=native,arg=firmware,arg={os.fspath(audio)}",
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on", "-kernel", os.fspath(elf)]
    started = time.monotonic()
    deadline = started + timeout_s
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        run = QemuRun(returncode=-1, log="")
        try:
            link = _connect(port, bundle, process, deadline)
            with link:
                while time.monotonic() < deadline:
                    try:
                        messages = link.poll()
                    except LinkError:
                        break  # QEMU closed the port: the firmware has exited
                    for message in messages:
                        run.messages.append(message)
                        if type(message).__name__ == "DetectionMessage":
                            run.events.append(link.to_event(message))
                run.rejects = sum(link.rejects.values())
            run.returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        run.log = log.read().decode(errors="replace")
    run.wall_s = time.monotonic() - started
    return run

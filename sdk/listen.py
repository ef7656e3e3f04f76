"""``auricle listen``: run a model on a microphone, a file or a pipe.

A terminal gets a live view (input level, top smoothed scores, recent events);
``--json`` prints one JSON line per detection (``Detection.to_dict()``) and a
final line of stream statistics on stderr.
"""
from __future__ import annotations

import json
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import List, Optional

import typer

from sdk.bundle import Bundle
from sdk.detector import Detector
from sdk.errors import ConfigError
from sdk.sinks import JsonLinesSink
from sdk.sources import FileSource, StdinSource

LEVEL_FLOOR_DB = -60.0


def parse_thresholds(values: List[str]) -> tuple[Optional[float], dict]:
    """``["0.7", "yes=0.9"]`` -> ``(0.7, {"yes": 0.9})``."""
    threshold, per_label = None, {}
    for value in values:
        label, sep, number = value.rpartition("=")
        try:
            parsed = float(number)
        except ValueError:
            raise ConfigError(f"--threshold {value!r}: expected a number or LABEL=NUMBER") from None
        if sep:
            per_label[label] = parsed
        else:
            threshold = parsed
    return threshold, per_label


def _bar(fraction: float, width: int = 30) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "·" * (width - filled)


def _view(detector: Detector, events: deque, source_name: str):
    from rich.panel import Panel
    from rich.table import Table

    stats = detector.stats
    table = Table.grid(padding=(0, 1))
    table.add_column(justify="right", style="bold")
    table.add_column()
    table.add_column(justify="right")
    level = (stats.level_db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
    table.add_row("input", _bar(level), f"{stats.level_db:6.1f} dBFS")
    ranked = sorted(detector.scores().items(), key=lambda kv: -kv[1])[:5]
    for label, score in ranked:
        mark = "" if label in detector.thresholds else " (bg)"
        style = "green" if label in detector.thresholds and score >= detector.thresholds[label] else ""
        table.add_row(label + mark, f"[{style}]{_bar(score)}[/]" if style else _bar(score), f"{score:.3f}")
    for event in events:
        table.add_row("event", f"{event.label}  score {event.score:.3f}", f"at {event.time_s:8.2f} s")
    latency = stats.to_dict()["hop_latency_ms"]
    table.add_row("stream", f"{stats.audio_s:.1f} s audio, RTF {stats.real_time_factor:.4f}",
                  f"hop {latency['median'] or 0:.2f} ms")
    table.add_row("", f"inferences {stats.inferences} (skipped {stats.skipped})",
                  f"overflows {stats.overflows}, dropped {stats.dropped_blocks}")
    return Panel(table, title=f"auricle listen: {detector.bundle.name} on {source_name}")


def _make_source(device, file, realtime, stdin, rate, dtype, channels, duration_s):
    chosen = sum(x is not None and x is not False for x in (device, file)) + bool(stdin)
    if chosen > 1:
        raise ConfigError("give at most one of --device, --file, --stdin")
    if file is not None:
        return FileSource(file, realtime=realtime), str(file)
    if stdin:
        if rate is None:
            raise ConfigError("--stdin needs --rate (the sample rate of the raw PCM on stdin)")
        return StdinSource(rate, dtype=dtype, channels=channels), f"stdin ({rate} Hz {dtype})"
    from sdk.microphone import Microphone

    mic = Microphone(device, sample_rate=rate, max_s=duration_s)
    return mic, f"{mic.device['name']} ({mic.sample_rate} Hz)"


def listen(
    model: Optional[Path] = typer.Argument(None, help="Model artifact (.tflite with Auricle metadata)."),
    device: Optional[str] = typer.Option(None, "--device", "-d", help="Input device: index or name substring."),
    list_devices: bool = typer.Option(False, "--list-devices", help="List input devices and exit."),
    file: Optional[Path] = typer.Option(None, "--file", help="Read an audio file instead of a microphone."),
    realtime: bool = typer.Option(False, help="Pace --file like live audio."),
    stdin: bool = typer.Option(False, "--stdin", help="Read raw PCM from stdin (needs --rate)."),
    rate: Optional[int] = typer.Option(None, help="Sample rate: of --stdin PCM, or to open the device at."),
    dtype: str = typer.Option("int16", help="--stdin sample type: int16, int32, float32, uint8."),
    channels: int = typer.Option(1, help="--stdin interleaved channels."),
    as_json: bool = typer.Option(False, "--json", help="One JSON line per detection on stdout."),
    threshold: List[str] = typer.Option([], "--threshold", help="NUMBER for all labels, or LABEL=NUMBER; repeatable."),
    vad: Optional[str] = typer.Option(None, help="Skip inference in silence: energy or webrtc."),
    hop_s: Optional[float] = typer.Option(None, help="Seconds between inferences (default from the model)."),
    duration_s: Optional[float] = typer.Option(None, help="Stop after this much microphone audio."),
    threads: int = typer.Option(1, help="LiteRT CPU threads."),
    mqtt: Optional[str] = typer.Option(
        None, "--mqtt", help="Also publish detections to mqtt://[user:pw@]host[:port] or mqtts://... (auricle[iot])."
    ),
    device_id: str = typer.Option(socket.gethostname(), "--device-id", help="This device's name in MQTT topics."),
    queue_dir: Optional[Path] = typer.Option(
        None, "--queue-dir", help="MQTT durable queue (default ~/.local/state/auricle/mqtt/DEVICE_ID)."
    ),
):
    """Detect keywords live: microphone (default), --file or --stdin."""
    if list_devices:
        from sdk.microphone import list_devices as devices

        for d in devices():
            typer.echo(f"{d['index']:3d}  {d['name']}  ({d['host_api']}, {d['max_input_channels']} ch, "
                       f"{d['default_sample_rate']} Hz)")
        return
    if model is None:
        raise ConfigError("auricle listen: give a MODEL (or --list-devices)")
    bundle = Bundle.load(model)
    base, per_label = parse_thresholds(threshold)
    detector = Detector(bundle, threshold=base, thresholds=per_label or None, vad=vad, hop_s=hop_s, threads=threads)
    source, source_name = _make_source(device, file, realtime, stdin, rate, dtype, channels, duration_s)
    sinks = [JsonLinesSink(sys.stdout)] if as_json else []
    if mqtt:
        from sdk.mqtt import MqttSink  # the iot extra; queued on disk before anything is sent

        sinks.append(MqttSink(mqtt, device_id=device_id, model_name=bundle.name, queue_dir=queue_dir))
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # systemd stop: run the finally below

    def deliver(event):
        for sink in sinks:
            sink(event)

    try:
        if as_json:
            detector.run(source, deliver)
        else:
            _interactive(detector, source, source_name, deliver)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        for sink in sinks:
            sink.close()
        if as_json:
            typer.echo(json.dumps({"stats": detector.stats.to_dict()}), err=True)


def _interactive(detector: Detector, source, source_name: str, deliver) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    if not console.is_terminal:  # piped: plain lines, no redraws
        for event in detector.listen(source):
            typer.echo(f"{event.time_s:.2f}\t{event.label}\t{event.score:.3f}")
            deliver(event)
        return
    events: deque = deque(maxlen=8)
    shown = 0.0
    with Live(_view(detector, events, source_name), console=console, refresh_per_second=10) as live:
        rate = source.sample_rate
        for block in source:
            new = detector.feed(block, rate)
            for event in new:
                deliver(event)
            events.extend(new)
            detector.stats.overflows = source.stats.overflows
            detector.stats.dropped_blocks = source.stats.dropped_blocks
            now = time.monotonic()
            if now - shown >= 0.1:
                live.update(_view(detector, events, source_name))
                shown = now
        for event in detector.flush():
            deliver(event)
            events.append(event)
        live.update(_view(detector, events, source_name))


def register(app: typer.Typer) -> None:
    app.command()(listen)

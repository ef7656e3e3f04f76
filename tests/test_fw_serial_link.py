"""SerialLink end to end over a real pseudo-terminal, from a Python and from a C "device"."""
from __future__ import annotations

import os
import subprocess
import threading
import time
import tty

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.serial_link import SerialLink
from fw_helpers import C_DIR, HARNESS_DIR, build, spec
from sdk.errors import LinkError
from sdk.events import Detection

pytest.importorskip("serial")

LABELS = ("yes", "no", "_silence_")


@pytest.fixture
def pty_pair():
    """(master fd the device writes to, slave path SerialLink opens)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def device_stream():
    return [
        p.Hello("tiny", LABELS, seq=0),
        p.Heartbeat(1000, seq=1),
        p.DetectionMessage(0, 0.91, 1500, seq=2),
        p.Heartbeat(2000, seq=3),
        p.DetectionMessage(1, 0.85, 2600, seq=4),
    ]


def collect(link: SerialLink, count: int) -> list[Detection]:
    events = []
    for event in link:
        events.append(event)
        if len(events) == count:
            return events
    return events


def test_python_device_to_serial_link_events(pty_pair):
    master, path = pty_pair
    with SerialLink(path, silence_timeout_s=2.0) as link:
        threading.Thread(target=lambda: [os.write(master, p.encode(m)) for m in device_stream()]).start()
        events = collect(link, 2)
    assert [(e.label, round(e.score, 3), e.time_s) for e in events] == [("yes", 0.910, 1.5), ("no", 0.851, 2.6)]  # 217/255
    assert events[0].model == "tiny" and events[0].extra["label_index"] == 0
    assert link.hello.labels == LABELS and link.heartbeats == 2 and link.last_heartbeat.uptime_ms == 2000


def test_c_device_to_serial_link_events(pty_pair, tmp_path):
    master, path = pty_pair
    harness = build(tmp_path / "harness", [C_DIR / "auricle_link.c", HARNESS_DIR / "fw_link_harness.c"], flags=[f"-I{C_DIR}"])
    specs = "".join(spec(m) + "\n" for m in device_stream()).encode()
    with SerialLink(path, labels=LABELS, silence_timeout_s=2.0) as link:
        subprocess.run([str(harness), "raw"], input=specs, stdout=master, check=True, timeout=30)
        events = collect(link, 2)
    assert [e.label for e in events] == ["yes", "no"] and link.heartbeats == 2


def test_bad_frames_on_the_wire_are_counted_and_skipped(pty_pair):
    from test_fw_protocol import CASES

    master, path = pty_pair
    stream = p.encode(p.Hello("tiny", LABELS))
    for bad in CASES.values():
        stream += bad + p.encode(p.DetectionMessage(2, 0.5, 10))
    with SerialLink(path, silence_timeout_s=2.0) as link:
        os.write(master, stream)
        events = collect(link, len(CASES))
    assert [e.label for e in events] == ["_silence_"] * len(CASES)
    assert dict(link.rejects) == {reason: 1 for reason in CASES}


def test_callback_form(pty_pair):
    master, path = pty_pair
    got = []
    with SerialLink(path, labels=LABELS, silence_timeout_s=2.0) as link:
        for m in device_stream():
            os.write(master, p.encode(m))
        count = link.listen(got.append, duration_s=0.5)
    assert count == 2 and [e.label for e in got] == ["yes", "no"]


def test_silent_link_raises_link_error(pty_pair):
    master, path = pty_pair
    with SerialLink(path, labels=LABELS, silence_timeout_s=0.3) as link:
        os.write(master, p.encode(p.Heartbeat(5)) + b"\x00\x42\x42\x00")
        started = time.monotonic()
        with pytest.raises(LinkError, match=r"no valid message for 0.3 s .*5 ms uptime.*garbage=1"):
            collect(link, 1)
    assert time.monotonic() - started < 2.0


def test_version_mismatch_is_named_when_the_link_goes_silent(pty_pair):
    master, path = pty_pair
    payload = bytearray(p.pack(p.Heartbeat(5)))
    payload[0] = 9
    from firmware_bridge.framing import encode_frame

    with SerialLink(path, labels=LABELS, silence_timeout_s=0.3) as link:
        os.write(master, encode_frame(bytes(payload)))
        with pytest.raises(LinkError, match="device speaks protocol version 9, host 1"):
            collect(link, 1)


def test_missing_port_names_it():
    with pytest.raises(LinkError, match="/dev/ttyAURICLE_NOPE: cannot open serial port"):
        SerialLink("/dev/ttyAURICLE_NOPE")


def test_labels_mismatch_with_the_device(pty_pair):
    master, path = pty_pair
    with SerialLink(path, labels=("on", "off"), silence_timeout_s=1.0) as link:
        os.write(master, p.encode(p.Hello("tiny", LABELS)))
        with pytest.raises(LinkError, match=r"device runs 'tiny' with labels \['yes', 'no', '_silence_'\]"):
            collect(link, 1)


def test_detection_without_labels_says_what_to_pass(pty_pair):
    master, path = pty_pair
    with SerialLink(path, silence_timeout_s=1.0) as link:
        os.write(master, p.encode(p.DetectionMessage(0, 0.9, 1)))
        with pytest.raises(LinkError, match="before any HELLO.*pass bundle= or labels="):
            collect(link, 1)


def test_host_can_send_to_device(pty_pair):
    master, path = pty_pair
    with SerialLink(path, labels=LABELS) as link:
        link.send(p.Ack(acked_seq=4, acked_type=p.DetectionMessage.TYPE))
        link.send(p.Ack(acked_seq=5, acked_type=p.DetectionMessage.TYPE))
        time.sleep(0.1)
        received = p.Decoder().feed(os.read(master, 1000))
    assert received == [p.Ack(4, 3, seq=0), p.Ack(5, 3, seq=1)]

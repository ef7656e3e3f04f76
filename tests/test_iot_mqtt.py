"""MqttSink against a real mosquitto broker on a free loopback port.

Every wait has a timeout. The outage tests run the broker with persistence and
the test subscriber with a persistent session (clean_session=False), the set-up
a consumer that must not miss events uses: the broker keeps the subscription
and queues messages for the subscriber while it reconnects.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from sdk.errors import ConfigError, LinkError
from sdk.events import Detection

mqtt = pytest.importorskip("paho.mqtt.client")
from sdk.mqtt import MqttSink, parse_url  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt-get install mosquitto)")
FAST = dict(reconnect_min_s=0.2, reconnect_max_s=1.0, connect_wait_s=3.0, heartbeat_s=30.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


class Broker:
    """A mosquitto process on 127.0.0.1:port that can be stopped and started again on the same port."""

    def __init__(self, folder: pathlib.Path, *, persistence: bool = False, password_file: pathlib.Path | None = None):
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen | None = None
        self.config = folder / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if password_file else 'true'}",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {folder}/",
            "autosave_interval 1",  # sessions survive even a SIGKILL of the broker (saved each second)
            f"log_dest file {folder}/mosquitto.log",
            "log_type all",
            "user root",  # only has an effect as root: keep it from dropping to 'mosquitto' (tmp is 0700)
        ]
        if password_file:
            lines.append(f"password_file {password_file}")
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> "Broker":
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        def listening():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
            return False
        if not wait_until(listening, 5.0):
            self.stop()
            pytest.fail(f"mosquitto did not start on port {self.port}: {self.process.stderr.read().decode()}")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class Subscriber:
    """A paho client that records every message under auricle/#."""

    def __init__(self, port: int, *, client_id: str = "", persistent: bool = False, username=None, password=None):
        self.messages: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("auricle/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscriber got no SUBACK"

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def detections(self) -> list[dict]:
        with self.lock:
            return [payload for topic, payload, _ in self.messages if topic.endswith("/detection")]

    def statuses(self) -> list[tuple[dict, bool]]:
        with self.lock:
            return [(payload, retain) for topic, payload, retain in self.messages if topic.endswith("/status")]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def event(i: int) -> Detection:
    return Detection(label=f"word{i}", score=0.5 + i / 1000, start_s=float(i), end_s=i + 1.0, model="kws")


def first_occurrences(payloads: list[dict]) -> list[dict]:
    seen, unique = set(), []
    for p in payloads:
        if p["id"] not in seen:
            seen.add(p["id"])
            unique.append(p)
    return unique


@pytest.fixture
def broker(tmp_path):
    (tmp_path / "broker-plain").mkdir()
    b = Broker(tmp_path / "broker-plain", persistence=False)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def durable_broker(tmp_path):
    (tmp_path / "broker-durable").mkdir()
    b = Broker(tmp_path / "broker-durable", persistence=True)
    b.start()
    yield b
    b.stop()


# -- URL and options ------------------------------------------------------------------------------


def test_parse_url_forms():
    a = parse_url("mqtt://pi:s%40cret@broker.local:1884")
    assert (a.host, a.port, a.tls, a.username, a.password) == ("broker.local", 1884, False, "pi", "s@cret")
    b = parse_url("mqtts://broker.example.org")
    assert (b.port, b.tls, b.username) == (8883, True, None)
    assert parse_url("mqtt://[::1]").host == "::1"
    assert parse_url("mqtt://10.0.0.2/").port == 1883


@pytest.mark.parametrize(
    "url, match",
    [
        ("broker.local:1883", r"'broker.local:1883'.*expected mqtt://"),
        ("http://broker.local", r"scheme 'http' must be 'mqtt' or 'mqtts'"),
        ("mqtt://broker.local:notaport", r"port must be a number"),
        ("mqtt://broker.local:70000", r"port must be a number"),
        ("mqtt://", r"'mqtt://': no host name"),
        ("mqtt://user:hunter2@:1883", r"user:\*\*\*@:1883.*no host name"),
        ("mqtt://broker.local/some/topic", r"unexpected path"),
    ],
)
def test_malformed_url_is_a_config_error(url, match, tmp_path):
    with pytest.raises(ConfigError, match=match) as info:
        MqttSink(url, device_id="pi", queue_dir=tmp_path)
    assert "hunter2" not in str(info.value)  # passwords never reach logs or messages


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"device_id": "kitchen/left"}, r"device_id='kitchen/left' must be a non-empty name"),
        ({"device_id": "pi", "model_name": "kws#1"}, r"model_name='kws#1'"),
        ({"device_id": "pi", "qos": 0}, r"qos=0 must be 1 or 2"),
        ({"device_id": "pi", "window": 0}, r"window=0 must be a positive integer"),
        ({"device_id": "pi", "ca_certs": "/nonexistent/ca.pem"}, r"ca_certs='/nonexistent/ca.pem': file not found"),
    ],
)
def test_bad_options_are_config_errors(kwargs, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        MqttSink("mqtt://127.0.0.1:1", queue_dir=tmp_path, **kwargs)


# -- delivery ------------------------------------------------------------------------------------


@needs_broker
def test_events_arrive_once_in_order_with_the_documented_schema(broker, tmp_path):
    sub = Subscriber(broker.port)
    sink = MqttSink(broker.url, device_id="pi-kitchen", model_name="kws", queue_dir=tmp_path / "q", **FAST)
    try:
        assert wait_until(lambda: sink.connected, 3)
        seqs = [sink(event(i)) for i in range(25)]
        assert sink.flush(5), f"{sink.queued} events still queued"
        assert wait_until(lambda: len(sub.detections()) >= 25, 5)
        time.sleep(0.2)  # nothing extra may follow
        got = sub.detections()
        assert [p["label"] for p in got] == [f"word{i}" for i in range(25)]  # exactly once, in order
        assert [p["seq"] for p in got] == seqs and seqs == sorted(seqs)
        first = got[0]
        assert first["schema_version"] == 1 and first["type"] == "detection"
        assert (first["device"], first["model"], first["score"], first["start_s"], first["end_s"]) == (
            "pi-kitchen", "kws", 0.5, 0.0, 1.0)
        assert first["timestamp"].endswith("+00:00") and "T" in first["timestamp"]
        assert len({p["id"] for p in got}) == 25
        with sub.lock:
            topics = {t for t, _, _ in sub.messages}
        assert "auricle/pi-kitchen/kws/detection" in topics
        online = [p for p, retained in sub.statuses() if p["state"] == "online"]
        assert online and online[0]["device"] == "pi-kitchen"
        assert sink.queued == 0
    finally:
        sink.close()
        sub.close()
    # The clean close leaves a retained "offline" that a late subscriber still gets.
    late = Subscriber(broker.port)
    try:
        assert wait_until(lambda: late.statuses(), 3)
        payload, retained = late.statuses()[-1]
        assert retained and payload["state"] == "offline"
    finally:
        late.close()


@needs_broker
def test_broker_outage_events_are_queued_and_delivered_in_order(durable_broker, tmp_path):
    sub = Subscriber(durable_broker.port, client_id="test-consumer", persistent=True)
    sink = MqttSink(durable_broker.url, device_id="pi", model_name="kws", queue_dir=tmp_path / "q", **FAST)
    try:
        for i in range(5):
            sink(event(i))
        assert sink.flush(5)
        durable_broker.stop()
        assert wait_until(lambda: not sink.connected, 3)
        for i in range(5, 20):
            sink(event(i))  # the broker is down: not an error
        assert sink.queued == 15
        time.sleep(0.5)
        assert sink.queued == 15  # nothing is dropped while the broker is away
        durable_broker.start()
        assert sink.flush(8), f"{sink.queued} still queued after the broker came back"
        assert wait_until(lambda: len(first_occurrences(sub.detections())) >= 20, 5)
        unique = first_occurrences(sub.detections())
        assert [p["label"] for p in unique] == [f"word{i}" for i in range(20)]  # all, in order
        assert [p["seq"] for p in unique] == sorted(p["seq"] for p in unique)
    finally:
        sink.close()
        sub.close()


@needs_broker
def test_events_stay_queued_until_puback_and_survive_a_broker_crash(durable_broker, tmp_path):
    """A frozen broker (SIGSTOP) takes the bytes but sends no PUBACK: nothing leaves the outbox.
    Killed in that state, it loses them; the sink sends them again after the restart."""
    sub = Subscriber(durable_broker.port, client_id="test-consumer-3", persistent=True)
    time.sleep(1.5)  # the broker saves the subscriber's session (autosave_interval 1)
    sink = MqttSink(durable_broker.url, device_id="pi", model_name="kws", queue_dir=tmp_path / "q", **FAST)
    try:
        for i in range(3):
            sink(event(i))
        assert sink.flush(5)
        durable_broker.process.send_signal(signal.SIGSTOP)
        for i in range(3, 13):
            sink(event(i))
        time.sleep(0.5)
        assert sink.queued == 10  # handed to the socket, never acknowledged: still on disk
        durable_broker.process.send_signal(signal.SIGKILL)
        durable_broker.process.wait(5)
        assert wait_until(lambda: not sink.connected, 3)
        for i in range(13, 18):
            sink(event(i))  # queued behind the ten in flight
        durable_broker.start()
        assert sink.flush(8), f"{sink.queued} still queued after the broker came back"
        assert wait_until(lambda: len(first_occurrences(sub.detections())) >= 18, 5)
        unique = first_occurrences(sub.detections())
        assert [p["label"] for p in unique] == [f"word{i}" for i in range(18)]
    finally:
        sink.close()
        sub.close()


@needs_broker
def test_backlog_survives_a_restart_of_the_publisher(durable_broker, tmp_path, caplog):
    sub = Subscriber(durable_broker.port, client_id="test-consumer-2", persistent=True)
    durable_broker.stop()
    queue = tmp_path / "q"
    with caplog.at_level(logging.WARNING, logger="sdk.mqtt"):
        first = MqttSink(durable_broker.url, device_id="pi", model_name="kws", queue_dir=queue, **FAST)
    assert any("unreachable" in r.getMessage() for r in caplog.records)  # logged, not raised
    for i in range(10):
        first(event(i))
    first.close(timeout_s=1)  # the process ends with the broker still down
    durable_broker.start()
    second = MqttSink(durable_broker.url, device_id="pi", model_name="kws", queue_dir=queue, **FAST)
    try:
        for i in range(10, 15):
            second(event(i))
        assert second.flush(8), f"{second.queued} still queued"
        assert wait_until(lambda: len(first_occurrences(sub.detections())) >= 15, 5)
        unique = first_occurrences(sub.detections())
        assert [p["label"] for p in unique] == [f"word{i}" for i in range(15)]  # backlog first, in order
        seqs = [p["seq"] for p in unique]
        assert seqs == sorted(seqs) and len(set(seqs)) == 15
    finally:
        second.close()
        sub.close()


@needs_broker
def test_heartbeat_repeats_the_retained_online_status(broker, tmp_path):
    sub = Subscriber(broker.port)
    sink = MqttSink(broker.url, device_id="pi", queue_dir=tmp_path / "q", **{**FAST, "heartbeat_s": 0.3})
    try:
        assert wait_until(lambda: sum(p["state"] == "online" for p, _ in sub.statuses()) >= 3, 5)
        assert all(p["heartbeat_s"] == 0.3 for p, _ in sub.statuses())
    finally:
        sink.close()
        sub.close()


PUBLISHER = textwrap.dedent(
    """
    import sys, time
    from sdk.mqtt import MqttSink
    sink = MqttSink(sys.argv[1], device_id="doomed", queue_dir=sys.argv[2], keepalive_s=2, heartbeat_s=60,
                    reconnect_min_s=0.2, reconnect_max_s=1)
    deadline = time.monotonic() + 5
    while not sink.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    print("connected" if sink.connected else "not connected", flush=True)
    time.sleep(60)
    """
)


@needs_broker
def test_last_will_says_offline_when_the_publisher_is_killed(broker, tmp_path):
    sub = Subscriber(broker.port)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, broker.url, str(tmp_path / "q")], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == "connected"
        assert wait_until(lambda: any(p["state"] == "online" for p, _ in sub.statuses()), 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        assert wait_until(lambda: any(p["state"] == "offline" for p, _ in sub.statuses()), 5)
        offline = [p for p, _ in sub.statuses() if p["state"] == "offline"][-1]
        assert offline["device"] == "doomed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        sub.close()


# -- bad input ------------------------------------------------------------------------------------


@needs_broker
def test_refused_credentials_raise_quickly(tmp_path):
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is not installed")
    folder = tmp_path / "broker-auth"
    folder.mkdir()
    password_file = folder / "passwords"
    subprocess.run([passwd, "-b", "-c", str(password_file), "pi", "right-secret"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    password_file.chmod(0o600)
    broker = Broker(folder, password_file=password_file).start()
    try:
        start = time.monotonic()
        with pytest.raises(LinkError, match=rf"broker at 127.0.0.1:{broker.port} refused: not authorized"):
            MqttSink(f"mqtt://pi:wrong@127.0.0.1:{broker.port}", device_id="pi", queue_dir=tmp_path / "q1", **FAST)
        assert time.monotonic() - start < 4
        with pytest.raises(LinkError, match="refused: not authorized"):
            MqttSink(broker.url, device_id="pi", queue_dir=tmp_path / "q2", **FAST)  # anonymous
        # The right password in the URL works, and so does one given as an argument.
        sub = Subscriber(broker.port, username="pi", password="right-secret")
        sink = MqttSink(f"mqtt://pi:wrong@127.0.0.1:{broker.port}", password="right-secret", device_id="pi",
                        queue_dir=tmp_path / "q3", **FAST)
        try:
            sink(event(1))
            assert sink.flush(5)
            assert wait_until(lambda: [p["label"] for p in sub.detections()] == ["word1"], 3)
        finally:
            sink.close()
            sub.close()
    finally:
        broker.stop()


@contextlib.contextmanager
def tiny_tmpfs(path: pathlib.Path, size: str, *, read_only: bool = False):
    path.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_raises_naming_the_queue_and_keeps_what_was_stored(tmp_path):
    """A real full file system (a 96 KiB tmpfs, as root); else SQLite's own page limit gives the same SQLITE_FULL."""
    port = free_port()  # nothing listens: the broker is "down", events stay on disk
    queue = tmp_path / "tiny"
    with tiny_tmpfs(queue, "96k") as mounted:
        sink = MqttSink(f"mqtt://127.0.0.1:{port}", device_id="pi", model_name="kws", queue_dir=queue,
                        **{**FAST, "connect_wait_s": 1.0})
        try:
            if not mounted:
                sink.outbox._db.execute("PRAGMA max_page_count=40")
            big = {"embedding": list(range(400))}
            stored = 0
            with pytest.raises(LinkError, match=rf"{queue}/outbox.sqlite3: cannot store the event, it was NOT queued"
                                                r" \(disk full"):
                for i in range(1000):
                    sink(Detection("yes", 0.9, i, i + 1, extra=big))
                    stored += 1
            assert 0 < stored < 1000
            assert sink.queued == stored  # what was stored before the disk filled is still there
        finally:
            sink.close(timeout_s=0.5)


def test_queue_folder_that_cannot_be_written_is_a_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"queue_dir='.*a-file/q': cannot create the folder"):
        MqttSink("mqtt://127.0.0.1:1", device_id="pi", queue_dir=blocker / "q")
    read_only = tmp_path / "ro"
    with tiny_tmpfs(read_only, "64k", read_only=True) as mounted:
        if not mounted:
            read_only.chmod(0o500)
            if os.access(read_only, os.W_OK):
                pytest.skip("cannot make a read-only folder here (root without mount)")
        with pytest.raises(ConfigError, match=rf"queue_dir='{read_only}': folder is not writable"):
            MqttSink("mqtt://127.0.0.1:1", device_id="pi", queue_dir=read_only)


def test_send_takes_detections_only(tmp_path):
    sink = MqttSink(f"mqtt://127.0.0.1:{free_port()}", device_id="pi", queue_dir=tmp_path,
                    **{**FAST, "connect_wait_s": 1})
    try:
        with pytest.raises(ConfigError, match="expected an sdk.events.Detection, got dict"):
            sink({"label": "yes"})
    finally:
        sink.close(timeout_s=0.5)
    with pytest.raises(LinkError, match=r"send\(\) after close\(\)"):
        sink(event(0))


def test_missing_paho_says_which_extra(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "paho" or name.startswith("paho."):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import sdk, sdk.mqtt
        from sdk.errors import LinkError
        try:
            sdk.mqtt.MqttSink("mqtt://127.0.0.1:1", device_id="pi", queue_dir={str(tmp_path)!r})
        except LinkError as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'auricle[iot]'" in done.stdout


@needs_broker
def test_subscriber_example_reacts_once_per_event(broker, tmp_path):
    app = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "mqtt_subscriber.py"), broker.url, "--device", "pi",
         "--toggle-on", "word1", "--count", "3"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    sub = Subscriber(broker.port)
    try:
        assert app.stdout.readline().startswith("listening on 127.0.0.1:")
        with MqttSink(broker.url, device_id="pi", model_name="kws", queue_dir=tmp_path / "q", **FAST) as sink:
            sink(event(0))
            sink(event(1))
            assert sink.flush(5)
            assert wait_until(lambda: len(sub.detections()) == 2, 3)
            # A redelivery of event 1 (what a crash before the outbox ack causes) must be ignored.
            repeat = json.dumps(sub.detections()[1])
            sub.client.publish("auricle/pi/kws/detection", repeat, qos=1).wait_for_publish(3)
            sink(event(1))
            assert sink.flush(5)
        out, err = app.communicate(timeout=5)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate(timeout=5)
        sub.close()
    lines = [line for line in out.splitlines() if line.startswith("[pi] word")]
    assert len(lines) == 3, out + err
    assert lines[0].startswith("[pi] word0 0.50") and "light" not in lines[0]
    assert lines[1].startswith("[pi] word1 0.50") and lines[1].endswith("-> light ON")
    assert lines[2].endswith("-> light OFF")


def make_certificates(folder: pathlib.Path) -> dict:
    """A throw-away CA and a server certificate for 127.0.0.1, with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    def run(*args):
        subprocess.run(["openssl", *args], check=True, cwd=folder, capture_output=True, timeout=30)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=Auricle test CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "server.pem")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=Some other CA", "-keyout", "other.key", "-out", "other.pem")
    return {name: folder / f"{name}.pem" for name in ("ca", "server", "other")} | {"key": folder / "server.key"}


@needs_broker
def test_tls_broker_with_a_private_ca(tmp_path):
    folder = tmp_path / "broker-tls"
    folder.mkdir()
    certs = make_certificates(folder)
    broker = Broker(folder)
    with open(broker.config, "a") as conf:
        conf.write(f"cafile {certs['ca']}\ncertfile {certs['server']}\nkeyfile {certs['key']}\n")
    broker.start()
    url = f"mqtts://127.0.0.1:{broker.port}"
    try:
        start = time.monotonic()
        with pytest.raises(LinkError, match=rf"broker at 127.0.0.1:{broker.port}: TLS certificate not trusted"):
            MqttSink(url, device_id="pi", queue_dir=tmp_path / "q1", ca_certs=certs["other"], **FAST)
        assert time.monotonic() - start < 4
        received = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.tls_set(ca_certs=str(certs["ca"]))
        subscribed = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: c.subscribe("auricle/+/+/detection", qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        client.on_message = lambda c, u, m: received.append(json.loads(m.payload)["label"])
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            assert subscribed.wait(5)
            with MqttSink(url, device_id="pi", model_name="kws", queue_dir=tmp_path / "q2", ca_certs=certs["ca"],
                          **FAST) as sink:
                sink(event(7))
                assert sink.flush(5)
            assert wait_until(lambda: received == ["word7"], 3)
        finally:
            client.disconnect()
            client.loop_stop()
    finally:
        broker.stop()


def test_one_publisher_per_queue_dir(tmp_path, monkeypatch):
    url = f"mqtt://127.0.0.1:{free_port()}"
    options = {**FAST, "connect_wait_s": 1}
    first = MqttSink(url, device_id="pi", queue_dir=tmp_path / "q", **options)
    try:
        with pytest.raises(ConfigError, match=rf"queue_dir='{tmp_path}/q': in use by another publisher "
                                              rf"\(process {os.getpid()}\)"):
            MqttSink(url, device_id="pi", queue_dir=tmp_path / "q", **options)
    finally:
        first.close(timeout_s=0.5)
    MqttSink(url, device_id="pi", queue_dir=tmp_path / "q", **options).close(timeout_s=0.5)  # free again
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    sink = MqttSink(url, device_id="kitchen", **options)
    try:
        assert sink.outbox.folder == str(tmp_path / "state" / "auricle" / "mqtt" / "kitchen")
    finally:
        sink.close(timeout_s=0.5)


@needs_broker
def test_listen_mqtt_example_publishes_what_the_detector_finds(broker, tmp_path, yes_bundle):
    """examples/listen_mqtt.py on a file with "yes" said twice: both detections reach the broker."""
    import soundfile

    import stream_model

    rate = 16000
    samples = stream_model.noise(np.random.default_rng(7), 5 * rate, -45)
    for start_s in (1.0, 3.0):  # an unseen voice, as in test_stream_detector.py
        clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=170) * 0.5
        samples[int(start_s * rate) : int(start_s * rate) + clip.shape[0]] += clip
    wav = tmp_path / "two_yes.wav"
    soundfile.write(wav, samples, rate)
    sub = Subscriber(broker.port)
    try:
        done = subprocess.run(
            [sys.executable, str(REPO / "examples" / "listen_mqtt.py"), stream_model.yes_bundle_path(), broker.url,
             "--device-id", "test", "--queue-dir", str(tmp_path / "q"), "--file", str(wav)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        printed = [line.split()[0] for line in done.stdout.splitlines() if "-> queued as #" in line]
        assert printed == ["yes", "yes"], done.stdout
        assert wait_until(lambda: len(sub.detections()) >= len(printed), 5)
        assert [p["label"] for p in sub.detections()] == printed
    finally:
        sub.close()

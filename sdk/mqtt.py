"""Detections to an MQTT broker, at least once and in order, through outages and restarts.

>>> sink = MqttSink("mqtt://pi:secret@broker.local", device_id="kitchen", model_name="kws")  # doctest: +SKIP
>>> for event in Detector(bundle).listen(Microphone()):                                       # doctest: +SKIP
...     sink(event)

Topics (``topic_prefix`` defaults to ``auricle``)::

    auricle/<device_id>/<model>/detection   one message per Detection, QoS 1, not retained
    auricle/<device_id>/status              retained: "online" + heartbeat; "offline" as last will

Detection payload, JSON, ``schema_version`` 1 (fields are only ever added
within a version; a consumer ignores fields it does not know)::

    {"schema_version": 1, "type": "detection",
     "id": "0b9f...-uuid4",        unique; dedupe on this
     "seq": 42,                     per queue_dir, strictly increasing, survives restarts
     "device": "kitchen", "model": "kws",
     "label": "yes", "score": 0.93, "start_s": 12.3, "end_s": 13.3,   seconds from stream start
     "timestamp": "2026-11-21T05:12:33.123456+00:00",                 UTC wall clock at send()
     "extra": {}}

Status payload: ``{"schema_version": 1, "type": "status", "state": "online" |
"offline", "device", "model", "timestamp", "heartbeat_s", "queued",
"auricle_version"}``; ``queued`` is the backlog not yet acknowledged.

Delivery guarantee. ``send`` writes the event to an SQLite outbox in
``queue_dir`` (fsynced) before it returns, and raises ``LinkError`` if it
cannot: an event is either on disk or the caller knows. One publisher thread
takes events from the outbox in ``seq`` order, at most ``window`` unacknowledged
at a time, and removes each only after the broker's PUBACK. While the broker is
unreachable events stay on disk; on reconnect the unacknowledged ones are sent
again first (by paho, with the DUP flag), then the rest in order; a new
``MqttSink`` on the same ``queue_dir`` (after a crash or a reboot) publishes the
backlog first. So each event reaches the broker **at least once, in seq
order**. Duplicates are possible when the connection or the process dies
between the broker accepting a message and the outbox removing it; consumers
dedupe by ``id`` (or by ``seq`` per device). The broker's own delivery to
subscribers is QoS 1 too: a subscriber with a persistent session sees the
same guarantee; one that is offline without a session misses messages, as
with any MQTT topic.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass

from sdk import __version__
from sdk.errors import ConfigError, LinkError
from sdk.events import Detection
from sdk.outbox import Outbox

SCHEMA_VERSION = 1
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_AUTH_FAILURES = {134, 135}  # bad user name or password, not authorized (v3.1.1 rc 4 and 5 map here)
log = logging.getLogger(__name__)


def _paho():
    try:
        import paho.mqtt.client as client
    except ImportError:
        raise LinkError("MQTT needs the 'iot' extra: pip install 'auricle[iot]' (paho-mqtt is not installed)") from None
    return client


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is, parsed from ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """Check and split a broker URL; ``ConfigError`` names it (password masked)."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"MQTT URL {url!r}: expected mqtt://[user:password@]host[:port] or mqtts://...")
    parts = urllib.parse.urlsplit(url)
    shown = _mask(url, parts)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(f"MQTT URL {shown!r}: scheme {parts.scheme!r} must be 'mqtt' or 'mqtts'")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"MQTT URL {shown!r}: port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ConfigError(f"MQTT URL {shown!r}: no host name")
    if port == 0:
        raise ConfigError(f"MQTT URL {shown!r}: port must be a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"MQTT URL {shown!r}: unexpected path or query after host:port")
    unquote = urllib.parse.unquote
    return BrokerAddress(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        tls=scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _mask(url: str, parts: urllib.parse.SplitResult) -> str:
    try:
        password = parts.password
    except ValueError:
        password = None
    return url.replace(f":{password}@", ":***@", 1) if password else url


def default_queue_dir(device_id: str) -> str:
    """Where the outbox lives unless told: user state, not cache (it must survive clean-ups)."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "auricle", "mqtt", device_id)


def _check_topic_level(name: str, value) -> str:
    if not isinstance(value, str) or not value or any(c in value for c in "/+#\0"):
        raise ConfigError(f"{name}={value!r} must be a non-empty name without '/', '+', '#'")
    return value


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def _json_default(value):
    for method in ("item", "tolist"):  # numpy scalars and arrays in Detection.extra
        if hasattr(value, method):
            return getattr(value, method)()
    return str(value)


class MqttSink:
    """Publish ``Detection`` events to an MQTT broker; a callable, so ``sink(event)`` works.

    Parameters
    ----------
    url : str
        ``mqtt://[user[:password]@]host[:port]`` (default port 1883) or
        ``mqtts://...`` (TLS, default port 8883). Percent-encode special
        characters in user and password.
    device_id : str
        This device's name; one topic level (no ``/``, ``+``, ``#``).
    model_name : str, optional
        Topic level for the model; default: ``Detection.model`` of each event.
    queue_dir : path, optional
        Folder of the durable outbox; one sink at a time per folder. Default
        ``default_queue_dir(device_id)``: ``$XDG_STATE_HOME/auricle/mqtt/<device_id>``
        (``~/.local/state/...``). A service passes its state directory.
    qos : {1, 2}
        MQTT QoS of detections. QoS 0 has no acknowledgement, so it is refused.
    username, password : str, optional
        Override the URL's credentials.
    ca_certs, certfile, keyfile : path, optional
        TLS: CA bundle (default: the system's), client certificate and key.
    tls_insecure : bool
        Skip the server host name check (self-signed test brokers only).
    keepalive_s : int
        MQTT keepalive; the broker publishes the last will after 1.5 times
        this without traffic, or at once when the connection drops.
    heartbeat_s : float
        Period of the retained "online" status message; 0 turns heartbeats off.
    reconnect_min_s, reconnect_max_s : float
        Exponential backoff between reconnection attempts.
    connect_wait_s : float
        How long the constructor waits for the first connection attempt to
        tell "refused" (raises) from "unreachable" (queues and retries).
    window : int
        Most events sent and not yet acknowledged at once.
    client_id : str, optional
        Default ``auricle-<device_id>-<random>``.
    """

    def __init__(
        self,
        url: str,
        *,
        device_id: str,
        model_name: str | None = None,
        queue_dir: str | os.PathLike | None = None,
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
        ca_certs: str | os.PathLike | None = None,
        certfile: str | os.PathLike | None = None,
        keyfile: str | os.PathLike | None = None,
        tls_insecure: bool = False,
        keepalive_s: int = 30,
        heartbeat_s: float = 30.0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 60.0,
        connect_wait_s: float = 5.0,
        window: int = 20,
        client_id: str | None = None,
        topic_prefix: str = "auricle",
    ):
        mqtt = _paho()
        self.broker = parse_url(url)
        self.device_id = _check_topic_level("device_id", device_id)
        self.model_name = None if model_name is None else _check_topic_level("model_name", model_name)
        self.topic_prefix = topic_prefix.rstrip("/")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "+#\0"):
            raise ConfigError(f"topic_prefix={topic_prefix!r} must be a non-empty topic without '+', '#'")
        if qos not in (1, 2):
            raise ConfigError(f"qos={qos!r} must be 1 or 2 (QoS 0 has no acknowledgement to remove queued events by)")
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window={window!r} must be a positive integer")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ConfigError(
                f"reconnect_min_s={reconnect_min_s}, reconnect_max_s={reconnect_max_s}: need 0 < min <= max"
            )
        if heartbeat_s < 0 or keepalive_s < 1:
            raise ConfigError(f"heartbeat_s={heartbeat_s} must be >= 0 and keepalive_s={keepalive_s} >= 1")
        self.qos, self.window, self.heartbeat_s = qos, window, heartbeat_s
        self.status_topic = f"{self.topic_prefix}/{self.device_id}/status"
        self._cond = threading.Condition()
        self._connected = False
        self._draining = False  # after a reconnect: paho resends the in-flight ones before we add more
        self._closing = False
        self._pending: dict[int, int | None] = {}  # mid -> outbox seq (None: a status message)
        self._early: set[int] = set()  # PUBACKs that arrived before publish() returned their mid
        self._last_seq = 0  # highest seq handed to paho
        self._send_online = False
        self._first_outcome = threading.Event()
        self._refused: LinkError | None = None
        self.last_error: str | None = None

        self._client = self._make_client(
            mqtt, client_id, username if username is not None else self.broker.username,
            password if password is not None else self.broker.password, reconnect_min_s, reconnect_max_s,
            connect_wait_s,
        )
        if self.broker.tls or ca_certs or certfile:
            self._set_tls(ca_certs, certfile, keyfile, tls_insecure)

        # Last, so that a bad option above leaves no lock on the folder behind.
        self.outbox = Outbox(default_queue_dir(self.device_id) if queue_dir is None else queue_dir)
        backlog = len(self.outbox)
        if backlog:
            log.info("%s: %d events from an earlier run are queued; they go first", self.outbox.path, backlog)
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=keepalive_s)
        self._client.loop_start()
        if not self._first_outcome.wait(connect_wait_s):
            log.warning("broker at %s: no answer within %.1f s; queueing events in %s and retrying",
                        self.broker, connect_wait_s, self.outbox.folder)
        if self._refused is not None:
            self._shutdown_client()
            self.outbox.close()
            raise self._refused
        self._thread = threading.Thread(target=self._run, name=f"auricle-mqtt-{self.device_id}", daemon=True)
        self._thread.start()

    # -- public -----------------------------------------------------------------------------------

    def send(self, detection: Detection) -> int:
        """Queue one detection durably and return its ``seq``; it is published in the background.

        Raises ``LinkError`` (naming the outbox file) if the event could not be
        written to disk; then it is not queued.
        """
        if self._closing:
            raise LinkError(f"MqttSink for broker at {self.broker}: send() after close()")
        if not isinstance(detection, Detection):
            raise ConfigError(f"MqttSink.send: expected an sdk.events.Detection, got {type(detection).__name__}")
        model = self.model_name or detection.model or "model"
        topic = f"{self.topic_prefix}/{self.device_id}/{_check_topic_level('model', model)}/detection"
        payload = json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "type": "detection",
                "id": str(uuid.uuid4()),
                "device": self.device_id,
                "model": model,
                "label": detection.label,
                "score": float(detection.score),
                "start_s": float(detection.start_s),
                "end_s": float(detection.end_s),
                "timestamp": _utc_now(),
                "extra": detection.extra,
            },
            default=_json_default,
        )
        seq = self.outbox.put(topic, payload)
        with self._cond:
            self._cond.notify_all()
        return seq

    __call__ = send

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def queued(self) -> int:
        """Events on disk not yet acknowledged by the broker."""
        return len(self.outbox)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event is acknowledged; False if ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox):
            if time.monotonic() >= deadline:
                return False
            with self._cond:
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, publish "offline", disconnect.

        Events still queued stay in ``queue_dir`` for the next sink.
        """
        if self._closing:
            return
        if self._connected:
            self.flush(timeout_s)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout_s + 1)
        self._shutdown_client()
        self.outbox.close()

    def __enter__(self) -> "MqttSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- paho callbacks (paho's network thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            message = f"broker at {self.broker} refused: {str(reason).lower()}"
            self.last_error = message
            if reason.value in _AUTH_FAILURES:
                message += " (check the user name and password)"
                if not self._first_outcome.is_set():
                    self._refused = LinkError(message)
                    client.disconnect()
            log.error("%s; events stay queued in %s", message, self.outbox.folder)
            self._first_outcome.set()
            return
        log.info("connected to broker at %s", self.broker)
        with self._cond:
            self._connected = True
            self._draining = any(s is not None for s in self._pending.values())
            self._send_online = True
            self._cond.notify_all()
        self._first_outcome.set()

    def _on_connect_fail(self, client, userdata) -> None:
        exc = sys.exc_info()[1]  # paho calls this inside its ``except OSError``
        first = not self._first_outcome.is_set()
        if isinstance(exc, ssl.SSLCertVerificationError):
            # Retrying will not make an untrusted certificate trusted: say so at once.
            message = f"broker at {self.broker}: TLS certificate not trusted ({exc.verify_message}); check ca_certs"
            self.last_error = message
            log.error("%s; events stay queued in %s", message, self.outbox.folder)
            if first:
                self._refused = LinkError(message)
                client.disconnect()
            self._first_outcome.set()
            return
        why = exc.strerror or str(exc) if isinstance(exc, OSError) else "no connection"
        self.last_error = f"broker at {self.broker} is unreachable ({why})"
        if first:
            log.warning("%s; queueing events in %s and retrying with backoff", self.last_error, self.outbox.folder)
        self._first_outcome.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            self._cond.notify_all()
        if was and not self._closing:
            log.warning("lost broker at %s (%s); queueing events and reconnecting", self.broker, reason)

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        with self._cond:
            if mid not in self._pending:
                self._early.add(mid)
                return
            seq = self._pending.pop(mid)
        self._acknowledged(seq, reason)

    # -- the publisher thread ---------------------------------------------------------------------

    def _acknowledged(self, seq: int | None, reason) -> None:
        if seq is not None:
            if getattr(reason, "is_failure", False):
                log.error("broker at %s rejected event seq %d (%s); dropping it", self.broker, seq, reason)
            try:
                self.outbox.remove(seq)
            except LinkError as exc:
                log.error("%s", exc)
        with self._cond:
            if self._draining and not any(s is not None for s in self._pending.values()):
                self._draining = False
            self._cond.notify_all()

    def _publish(self, topic: str, payload: str, *, retain: bool, seq: int | None) -> None:
        """Hand one message to paho; called only from the publisher thread, so order holds."""
        info = self._client.publish(topic, payload, qos=self.qos if seq is not None else 1, retain=retain)
        with self._cond:
            if info.mid in self._early:
                self._early.discard(info.mid)
                early = True
            else:
                self._pending[info.mid] = seq
                early = False
        if early:
            self._acknowledged(seq, None)

    def _run(self) -> None:
        next_heartbeat = time.monotonic()
        while True:
            with self._cond:
                if self._closing:
                    break
                in_flight = sum(1 for s in self._pending.values() if s is not None)
                room = self.window - in_flight if self._connected and not self._draining else 0
                online, self._send_online = self._send_online and self._connected, False
            if online or (self._connected and self.heartbeat_s and time.monotonic() >= next_heartbeat):
                self._publish(self.status_topic, self._status("online"), retain=True, seq=None)
                next_heartbeat = time.monotonic() + (self.heartbeat_s or float("inf"))
            rows = self.outbox.after(self._last_seq, room) if room > 0 else []
            for seq, topic, payload in rows:
                message = json.loads(payload)
                message["seq"] = seq
                self._publish(topic, json.dumps(message), retain=False, seq=seq)
                self._last_seq = seq
            if rows:
                continue
            with self._cond:
                wait_s = max(0.0, next_heartbeat - time.monotonic()) if self._connected and self.heartbeat_s else 1.0
                if not self._closing and not self._send_online:
                    self._cond.wait(min(wait_s, 1.0))
        if self._connected:
            info = self._client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass

    def _status(self, state: str) -> str:
        return json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "type": "status",
                "state": state,
                "device": self.device_id,
                "model": self.model_name,
                "timestamp": _utc_now(),
                "heartbeat_s": self.heartbeat_s,
                "queued": len(self.outbox) if state == "online" else None,
                "host": socket.gethostname(),
                "auricle_version": __version__,
            }
        )

    def _make_client(self, mqtt, client_id, user, secret, reconnect_min_s, reconnect_max_s, connect_wait_s):
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"auricle-{self.device_id}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,  # the outbox, not the broker session, carries events across restarts
        )
        client.max_inflight_messages_set(0)  # unlimited in paho; our window bounds it
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.connect_timeout = max(1.0, connect_wait_s)
        if user is not None:
            client.username_pw_set(user, secret)
        # The will's timestamp is the time of this call; "offline" since at most keepalive_s * 1.5 later.
        client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _set_tls(self, ca_certs, certfile, keyfile, insecure: bool) -> None:
        for name, path in (("ca_certs", ca_certs), ("certfile", certfile), ("keyfile", keyfile)):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"{name}={os.fspath(path)!r}: file not found")
        try:
            self._client.tls_set(
                ca_certs=None if ca_certs is None else os.fspath(ca_certs),
                certfile=None if certfile is None else os.fspath(certfile),
                keyfile=None if keyfile is None else os.fspath(keyfile),
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(f"TLS settings for broker at {self.broker}: {exc}") from None
        self._client.tls_insecure_set(insecure)

    def _shutdown_client(self) -> None:
        try:
            self._client.disconnect()
        except Exception:  # noqa: BLE001  (already gone; nothing left to tell the broker)
            pass
        self._client.loop_stop()

"""React to Auricle detections from MQTT: print each one and toggle a "light".

    python examples/mqtt_subscriber.py mqtt://broker.local --device kitchen --toggle-on lights
    python examples/mqtt_subscriber.py mqtt://user:pw@broker.local --command 'notify-send "$AURICLE_LABEL"'

Events arrive at least once (see sdk/mqtt.py): this app drops repeats by event
id. With ``--client-id`` it keeps a persistent session, so the broker holds
events for it while it is away (the broker needs ``persistence true`` to keep
them across its own restarts). Replace ``Light`` with e.g. ``gpiozero.LED`` to
switch a real pin on a Raspberry Pi.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import threading

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout
from sdk.mqtt import SCHEMA_VERSION, parse_url  # noqa: E402


class Light:
    """Stands in for a relay or an LED: something with on() and off()."""

    def __init__(self):
        self.is_on = False

    def toggle(self) -> bool:
        self.is_on = not self.is_on
        return self.is_on


class Seen:
    """The last ``size`` event ids, to drop redeliveries."""

    def __init__(self, size: int = 10000):
        self._ids = collections.OrderedDict()
        self._size = size

    def add(self, event_id: str) -> bool:
        """True the first time an id is seen."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="broker, mqtt://[user:password@]host[:port] or mqtts://...")
    parser.add_argument("--device", default="+", help="device id to follow (default: all)")
    parser.add_argument("--prefix", default="auricle", help="topic prefix the publishers use")
    parser.add_argument("--toggle-on", metavar="LABEL", help="toggle the light on this label (default: any label)")
    parser.add_argument("--min-score", type=float, default=0.0, help="ignore detections scoring below this")
    parser.add_argument("--command", help="shell command run per detection; AURICLE_LABEL, AURICLE_SCORE, "
                                          "AURICLE_DEVICE are set")
    parser.add_argument("--client-id", help="persistent session under this id (no events lost while away)")
    parser.add_argument("--ca-certs", help="CA bundle for mqtts://")
    parser.add_argument("--count", type=int, default=0, help="exit after this many detections (0: run until ^C)")
    args = parser.parse_args(argv)

    broker = parse_url(args.url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id or "",
                         clean_session=args.client_id is None)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=args.ca_certs)
    light, seen, done = Light(), Seen(), threading.Event()
    handled = 0
    last_seq: dict[str, int] = {}

    def on_connect(client, userdata, flags, reason, properties):
        if reason.is_failure:
            print(f"broker at {broker} refused: {reason}", file=sys.stderr)
            done.set()
            return
        client.subscribe([(f"{args.prefix}/{args.device}/+/detection", 1), (f"{args.prefix}/{args.device}/status", 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        print(f"listening on {broker} for device {args.device!r}", flush=True)

    def on_message(client, userdata, message):
        nonlocal handled
        try:
            event = json.loads(message.payload)
        except ValueError:
            print(f"{message.topic}: not JSON, ignored", file=sys.stderr)
            return
        if event.get("schema_version") != SCHEMA_VERSION:
            print(f"{message.topic}: schema_version {event.get('schema_version')!r} unknown, ignored", file=sys.stderr)
            return
        if event.get("type") == "status":
            print(f"[{event['device']}] {event['state']} at {event['timestamp']}", flush=True)
            return
        if not seen.add(event["id"]) or event["score"] < args.min_score:
            return
        device = event["device"]
        if event["seq"] <= last_seq.get(device, 0):
            print(f"[{device}] note: seq {event['seq']} after {last_seq[device]} (publisher restarted or reordered)",
                  file=sys.stderr)
        last_seq[device] = event["seq"]
        line = f"[{device}] {event['label']} {event['score']:.2f} at {event['end_s']:.2f} s ({event['timestamp']})"
        if args.toggle_on is None or event["label"] == args.toggle_on:
            line += f" -> light {'ON' if light.toggle() else 'OFF'}"
        print(line, flush=True)
        if args.command:
            env = {**os.environ, "AURICLE_LABEL": event["label"], "AURICLE_SCORE": str(event["score"]),
                   "AURICLE_DEVICE": device}
            subprocess.run(args.command, shell=True, env=env, check=False)
        handled += 1
        if args.count and handled >= args.count:
            done.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.reconnect_delay_set(1, 30)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    client.connect_async(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

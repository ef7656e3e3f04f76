"""One hour of audio through Detector and MqttSink, with the broker restarted twice.

    nice python benchmarks/soak.py --out benchmarks/results/soak.json    # about 10 min on 2 cores

Not part of CI. The audio (``--hours``, default 1) is made minute by minute
from real recordings in ``../shared/data`` (``$AURICLE_DATA``): Speech Commands
test clips (``yes`` and other words, one every 5 s with a random offset and
gain) over MUSAN noise; without that folder, synthesised "yes" and noise. It
is fed in 20 ms blocks to ``sdk.Detector``, paced ``--speedup`` times faster
than real time, and every detection goes to ``sdk.mqtt.MqttSink`` publishing to
a real mosquitto broker (persistence on) that this script starts on a loopback
port. At 1/3 and 2/3 of the audio the broker is stopped (SIGTERM) for
``--outage-s`` seconds of wall time, then started again on the same port. A
paho subscriber with a persistent session (QoS 1) records every detection.

Then the same audio goes through a second Detector with no MQTT at all (the
one-shot run). Reported: the events of both runs, compared after dropping
duplicate deliveries by event id (lost, differing, duplicated, order), and
the resident memory (RSS) of the process during the MQTT run: before the
first block, at the first block (``start``, after the first minute of audio
is made), every 5 minutes of audio, at the end, and its peak. The subscriber
runs in the same process (it keeps a few values per event); the broker does not.

The model: ``--model`` or, by default, the tests' "yes" keyword model
(``tests/stream_model.py``, trained on synthesised speech in a child process).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import results_io  # noqa: E402
from quantize.data import data_root  # noqa: E402  (no TensorFlow: the shared data folder only)
from sdk.audio import resample  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.detector import Detector  # noqa: E402
from sdk.errors import LinkError  # noqa: E402

MINUTE_S = 60
SLOT_S = 5.0  # one spoken clip per slot
RSS_EVERY_S = 300  # an RSS sample every 5 minutes of audio


class AudioMaker:
    """Deterministic audio, one minute at a time: the same ``(seed, minute)`` always gives the same samples."""

    def __init__(self, rate: int, seed: int):
        import soundfile

        self.rate, self.seed, self._read = rate, seed, soundfile.read
        sc = data_root() / "speech_commands_v2_test"
        noise_files = sorted((data_root() / "musan_subset" / "noise").glob("*/*.wav"))
        self.words = {w: sorted((sc / w).glob("*.wav")) for w in ("yes", "no", "up", "stop", "go", "_unknown_")}
        self.real = all(self.words.values()) and bool(noise_files)
        if self.real:
            beds = [self._load(f) for f in noise_files]
            self.beds = [b for b in beds if b.size >= 10 * rate] or beds
            self.source = f"{sc} clips over {data_root() / 'musan_subset' / 'noise'}"
        else:
            sys.path.insert(0, str(ROOT / "tests"))
            import stream_model

            self.yes = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE) * 0.5
            self.source = "synthesised: espeak-ng 'yes' over white noise (no ../shared/data)"

    def _load(self, path) -> np.ndarray:
        samples, rate = self._read(str(path), dtype="float32", always_2d=True)
        return resample(samples.mean(axis=1), rate, self.rate)

    def minute(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        n = MINUTE_S * self.rate
        if self.real:
            bed = self.beds[rng.integers(len(self.beds))]
            out = np.resize(np.roll(bed, -int(rng.integers(bed.size))), n) * rng.uniform(0.05, 0.3)
        else:
            out = rng.normal(0, 0.005, n).astype(np.float32)
        for slot in range(int(MINUTE_S / SLOT_S)):
            if self.real:
                word = rng.choice(["yes", "yes", "no", "up", "stop", "go", "_unknown_"])
                clip = self._load(self.words[word][rng.integers(len(self.words[word]))])
                clip = clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.2, 0.8)
            else:
                clip = self.yes
            start = int((slot * SLOT_S + rng.uniform(0, SLOT_S - 1.2)) * self.rate)
            end = min(n, start + clip.size)
            out[start:end] += clip[: end - start]
        return np.clip(out, -1, 1).astype(np.float32)

    def blocks(self, seconds: float, block_s: float):
        """(index of the block's first sample in the stream, block) over ``seconds`` of audio."""
        block = int(round(block_s * self.rate))
        for m in range(int(np.ceil(seconds / MINUTE_S))):
            audio = self.minute(m)[: int(round((seconds - m * MINUTE_S) * self.rate))]
            for i in range(0, audio.size, block):
                yield m * MINUTE_S * self.rate + i, audio[i : i + block]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Broker:
    """mosquitto on 127.0.0.1 with persistence, stopped and started again on the same port."""

    def __init__(self, folder: pathlib.Path):
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
        if exe is None:
            raise LinkError("soak: mosquitto is not installed (apt-get install mosquitto)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.exe, self.config, self.process = exe, folder / "mosquitto.conf", None
        self.config.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
            f"persistence_location {folder}/", "max_queued_messages 0",  # 0: no limit for the offline subscriber
            f"log_dest file {folder}/mosquitto.log", "user root"]) + "\n")

    def start(self) -> None:
        self.process = subprocess.Popen([self.exe, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise LinkError(f"soak: mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: a service restart; mosquitto saves its sessions
            self.process.wait(10)
        self.process = None


class Subscriber:
    """A paho client with a persistent session that keeps (id, event) of every detection, in arrival order."""

    def __init__(self, port: int):
        import json

        import paho.mqtt.client as mqtt

        self.received: list[tuple[str, tuple]] = []
        self.lock, subscribed = threading.Lock(), threading.Event()
        self._json = json
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="auricle-soak-subscriber",
                                  clean_session=False)
        self.client.reconnect_delay_set(0.1, 1.0)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("auricle/+/+/detection", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise LinkError(f"soak: subscriber got no SUBACK from 127.0.0.1:{port}")

    def _on_message(self, client, userdata, message) -> None:
        p = self._json.loads(message.payload)
        with self.lock:
            self.received.append((p["id"], (p["label"], p["score"], p["start_s"], p["end_s"])))

    def unique(self) -> list[tuple]:
        seen, out = set(), []
        with self.lock:
            for event_id, event in self.received:
                if event_id not in seen:
                    seen.add(event_id)
                    out.append(event)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def key(detection) -> tuple:
    return (detection.label, float(detection.score), float(detection.start_s), float(detection.end_s))


def one_shot(bundle: Bundle, audio: AudioMaker, seconds: float, block_s: float) -> tuple[list, float]:
    detector, events, start = Detector(bundle), [], time.perf_counter()
    for _, block in audio.blocks(seconds, block_s):
        events += [key(d) for d in detector.feed(block, audio.rate)]
    return events, time.perf_counter() - start


def mqtt_run(bundle: Bundle, audio: AudioMaker, args, work: pathlib.Path) -> dict:
    from sdk.mqtt import MqttSink

    broker = Broker(work)
    broker.start()
    subscriber = Subscriber(broker.port)
    sink = MqttSink(f"mqtt://127.0.0.1:{broker.port}", device_id="soak", queue_dir=work / "outbox",
                    reconnect_min_s=0.2, reconnect_max_s=2.0, heartbeat_s=30.0)
    detector = Detector(bundle)
    restarts_at = [args.hours * 3600 * k / 3 for k in (1, 2)]
    sent, rss, outages, down_since = [], [], [], None
    start_rss, wall0 = rss_mb(), time.perf_counter()
    try:
        for first, block in audio.blocks(args.hours * 3600, args.block_s):
            t = first / audio.rate
            if first % (RSS_EVERY_S * audio.rate) < block.size:
                rss.append(round(rss_mb(), 1))
            delay = wall0 + t / args.speedup - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if restarts_at and t >= restarts_at[0] and down_since is None:
                restarts_at.pop(0)
                broker.stop()
                down_since = time.perf_counter()
                outages.append({"audio_s": round(t, 1), "queued_max": 0})
            if down_since is not None:
                outages[-1]["queued_max"] = max(outages[-1]["queued_max"], sink.queued)
                if time.perf_counter() - down_since >= args.outage_s:
                    broker.start()
                    outages[-1]["wall_s"] = round(time.perf_counter() - down_since, 1)
                    down_since = None
            for detection in detector.feed(block, audio.rate):
                sink.send(detection)
                sent.append(key(detection))
        end_rss = rss_mb()
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        wall = time.perf_counter() - wall0
        flushed = sink.flush(timeout_s=120)
        deadline = time.monotonic() + 60
        while len(subscriber.unique()) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        sink.close()
        subscriber.close()
        broker.stop()
    warm = rss[min(1, len(rss) - 1)]
    return {"sent": sent, "received": subscriber.unique(), "deliveries": len(subscriber.received),
            "flushed": flushed, "outages": outages, "wall_s": wall,
            "rss_mb": {"before_streaming": round(start_rss, 1), "start": rss[0], "after_5_min": warm,
                       "end": round(end_rss, 1), "peak": round(max([peak_rss, end_rss, *rss]), 1),
                       "growth_after_5_min": round(end_rss - warm, 1),
                       "every_5_min_of_audio": rss}}


def compare(expected: list, sent: list, received: list) -> dict:
    """Events of the one-shot run against those the MQTT run sent and the subscriber received."""
    received_set, expected_set = set(received), set(expected)
    return {
        "events_one_shot": len(expected),
        "events_sent": len(sent),
        "sent_identical_to_one_shot": sent == expected,
        "events_received_unique": len(received),
        "events_lost": sum(1 for e in expected if e not in received_set),
        "events_differing": sum(1 for e in received if e not in expected_set),
        "received_in_order": received == [e for e in expected if e in received_set],
    }


def default_model() -> str:
    from benchmarks.stream import fixture_model

    return fixture_model("tiny")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact (default: the tests' 'yes' model)")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--speedup", type=float, default=20.0, help="audio seconds per wall second (pacing)")
    parser.add_argument("--outage-s", type=float, default=15.0, help="wall seconds the broker is down, twice")
    parser.add_argument("--block-s", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/soak.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = args.model or default_model()
    bundle = Bundle.load(model)
    audio = AudioMaker(bundle.frontend.sample_rate, args.seed)
    with tempfile.TemporaryDirectory(prefix="auricle-soak-") as work:
        run = mqtt_run(bundle, audio, args, pathlib.Path(work))
    expected, one_shot_wall = one_shot(bundle, audio, args.hours * 3600, args.block_s)
    results = {
        "model": {"path": model if args.model else "tests/stream_model.py yes_bundle_path() (TTS-trained 'yes')",
                  "name": bundle.name, "labels": list(bundle.labels), "bytes": len(bundle.model)},
        "audio_s": args.hours * 3600, "audio_source": audio.source, "block_s": args.block_s,
        "speedup": args.speedup, "broker_restarts": len(run["outages"]), "outages": run["outages"],
        **compare(expected, run["sent"], run["received"]),
        "duplicate_deliveries": run["deliveries"] - len(run["received"]),
        "sink_flushed": run["flushed"],
        "rss_mb": run["rss_mb"],
        "wall_s": {"mqtt_run": round(run["wall_s"], 1), "one_shot_run": round(one_shot_wall, 1)},
    }
    path = results_io.write(args.out, results, seeds=[args.seed], elapsed_s=time.perf_counter() - started)
    print({k: v for k, v in results.items() if k != "model"})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

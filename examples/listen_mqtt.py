"""Listen with a model and publish every detection to MQTT, durably.

    python examples/listen_mqtt.py kws.tflite mqtt://broker.local --device-id kitchen
    python examples/listen_mqtt.py kws.tflite mqtt://broker.local --device-id test --file clip.wav

Without ``--file`` it listens to the default microphone (``auricle[mic]``).
Events go to ``auricle/<device-id>/<model>/detection``; while the broker is
down they wait in ``--queue-dir`` and are sent, in order, when it returns,
also after a restart of this program.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout
from sdk import Bundle, Detector, FileSource  # noqa: E402
from sdk.mqtt import MqttSink  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model artifact (.tflite with Auricle metadata)")
    parser.add_argument("url", help="broker, mqtt://[user:password@]host[:port] or mqtts://...")
    parser.add_argument("--device-id", required=True, help="this device's name in the topics")
    parser.add_argument("--queue-dir", help="durable outbox folder (default ~/.local/state/auricle/mqtt/DEVICE-ID)")
    parser.add_argument("--file", help="read this audio file instead of the microphone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    bundle = Bundle.load(args.model)
    if args.file:
        source = FileSource(args.file)  # blocks at the file's own rate; the Detector resamples
    else:
        from sdk import Microphone  # the mic extra; opens the device at its native rate and resamples

        source = Microphone()
    with MqttSink(args.url, device_id=args.device_id, model_name=bundle.name, queue_dir=args.queue_dir) as sink:
        for event in Detector(bundle).listen(source):
            seq = sink(event)  # on disk before this returns; published in the background
            print(f"{event.label} {event.score:.2f} at {event.time_s:.2f} s -> queued as #{seq}", flush=True)
        if not sink.flush(timeout_s=10):
            print(f"{sink.queued} events still queued in {sink.outbox.folder}; they go out on the next run",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

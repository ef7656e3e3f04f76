"""Run the Microphone through real PortAudio in a fresh process; print one JSON result.

PortAudio scans its devices once, when sounddevice is imported, so each probe
runs in its own process with the environment (HOME for an .asoundrc,
JACK_DEFAULT_SERVER) that the calling test set up.

    python tests/stream_mic_probe.py detect DEVICE MODEL SECONDS [QUEUE_S]
    python tests/stream_mic_probe.py open DEVICE RATE
    python tests/stream_mic_probe.py slow-reader DEVICE
"""
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sdk.errors import AuricleError  # noqa: E402


def main(argv):
    from sdk.bundle import Bundle
    from sdk.detector import Detector
    from sdk.microphone import Microphone, list_devices

    mode, device = argv[0], argv[1]
    result = {"devices": list_devices()}
    try:
        if mode == "detect":
            seconds, queue_s = float(argv[3]), float(argv[4]) if len(argv) > 4 else 2.0
            mic = Microphone(device, block_s=0.02, queue_s=queue_s, max_s=seconds)
            detector = Detector(Bundle.load(argv[2]))
            started = time.monotonic()
            events = [e.to_dict() for e in detector.listen(mic)]
            result.update(
                wall_s=time.monotonic() - started, events=events, sample_rate=mic.sample_rate,
                stats=detector.stats.to_dict(), source=mic.stats.to_dict(),
            )
        elif mode == "open":
            mic = Microphone(device, sample_rate=int(argv[2]) if argv[2] != "native" else None, max_s=0.2)
            blocks = list(mic)
            result.update(sample_rate=mic.sample_rate, samples=sum(b.shape[0] for b in blocks))
        elif mode == "slow-reader":
            mic = Microphone(device, block_s=0.01, queue_s=0.05, max_s=0.5)
            for _ in mic:
                time.sleep(0.02)
            result.update(source=mic.stats.to_dict())
    except AuricleError as exc:
        result.update(error=type(exc).__name__, message=str(exc))
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s")
    main(sys.argv[1:])

"""Auricle runtime: stream audio through one front end and LiteRT into events.

>>> from sdk import Bundle, Detector            # doctest: +SKIP
>>> for event in Detector(Bundle.load("kws.tflite")).listen(blocks):
...     print(event.label, event.time_s, event.score)

This package never imports TensorFlow; it runs on numpy and ai-edge-litert.
"""
__version__ = "0.1.0"

from sdk.errors import AudioError, AuricleError, ConfigError, DeviceError, LinkError, ModelError  # noqa: E402
from sdk.events import Detection  # noqa: E402
from sdk.frontend import FrontEnd, FrontEndConfig, features  # noqa: E402
from sdk.audio import load_audio, read_audio, resample  # noqa: E402
from sdk.bundle import Bundle, DetectionDefaults, Head  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.detector import Detector  # noqa: E402
from sdk.sources import ArraySource, FileSource, StdinSource  # noqa: E402
from sdk.microphone import Microphone, list_devices  # noqa: E402  (sounddevice is imported when used)
from sdk.sinks import JsonLinesSink  # noqa: E402

__all__ = [
    "ArraySource", "AudioError", "AuricleError", "Bundle", "ConfigError", "Detection", "DetectionDefaults",
    "Detector", "DeviceError", "Engine", "FileSource", "FrontEnd", "FrontEndConfig", "Head", "JsonLinesSink",
    "LinkError", "Microphone", "ModelError", "StdinSource", "features", "list_devices", "load_audio",
    "read_audio", "resample",
]

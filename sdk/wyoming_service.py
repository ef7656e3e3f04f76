"""A Wyoming wake-word service for Home Assistant's voice pipeline.

``auricle wyoming --uri tcp://0.0.0.0:10400 MODEL...`` serves every
foreground label of every model as a wake word. Each client connection has
its own Detectors (front end, ring buffer, smoother), so concurrent streams
never share state, and a connection's state is freed when it closes.

Protocol, as the ``wyoming`` package defines it: ``describe`` -> ``info``;
``detect`` (names to listen for; none = all); ``audio-start`` /
``audio-chunk`` / ``audio-stop`` at whatever rate, width and channels the
client sends; the service answers ``detection`` (name, timestamp in ms from
the stream start) for each event, and ``not-detected`` at ``audio-stop`` if
the stream had none. Bad input (an unknown name, an unsupported sample width,
a malformed event) gets an ``error`` event or a log line, and the server keeps
serving other clients.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional

import numpy as np
import typer

from sdk import __version__
from sdk.audio import pcm_to_mono
from sdk.bundle import Bundle
from sdk.detector import Detector
from sdk.errors import AuricleError, ConfigError

log = logging.getLogger("auricle.wyoming")

_SAMPLE_TYPES = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}


@dataclass(frozen=True)
class WakeWord:
    """One servable wake word: a foreground label of one model."""

    name: str
    label: str
    bundle: Bundle


def wake_words(bundles: Iterable[Bundle]) -> dict[str, WakeWord]:
    """Wake words by name; a label in several models is named ``model:label``."""
    bundles = list(bundles)
    found: list[tuple[str, Bundle]] = []
    for bundle in bundles:
        head = bundle.heads[0]
        found += [(label, bundle) for label in head.labels if label not in head.background and not label.startswith("_")]
    counts: dict[str, int] = {}
    for label, _ in found:
        counts[label] = counts.get(label, 0) + 1
    words = {}
    for label, bundle in found:
        name = label if counts[label] == 1 else f"{bundle.name}:{label}"
        if name in words:
            raise ConfigError(f"wyoming: two models are both named {bundle.name!r} and share label {label!r}")
        words[name] = WakeWord(name, label, bundle)
    if not words:
        raise ConfigError("wyoming: the models have no foreground labels to serve as wake words")
    return words


def pcm_to_float(audio: bytes, *, width: int, channels: int) -> np.ndarray:
    """Little-endian PCM bytes -> mono float32; ConfigError for layouts we cannot read."""
    if width not in _SAMPLE_TYPES:
        raise ConfigError(f"audio-chunk: width={width} bytes per sample is not supported (1, 2 or 4)")
    if not isinstance(channels, int) or channels < 1:
        raise ConfigError(f"audio-chunk: channels={channels!r} must be a positive integer")
    frame_bytes = width * channels
    if len(audio) % frame_bytes:
        raise ConfigError(
            f"audio-chunk: {len(audio)} bytes is not a whole number of {channels}-channel {width}-byte frames"
        )
    return pcm_to_mono(audio, dtype=_SAMPLE_TYPES[width], channels=channels)


@dataclass
class Session:
    """One client's stream state: a Detector per model, and what it asked for."""

    detectors: dict = field(default_factory=dict)  # bundle name -> Detector
    active: set | None = None  # wake-word names asked for by `detect`; None = all
    detected: bool = False
    streaming: bool = False


class WakeService:
    """The models, the detector options, and the sessions currently open."""

    def __init__(self, bundles: Iterable[Bundle], *, languages=("en",), **detector_options):
        self.bundles = {b.name: b for b in bundles}
        self.words = wake_words(self.bundles.values())
        self.languages = list(languages)
        self.detector_options = detector_options
        self.sessions: set[int] = set()  # ids of open connections (for tests and status)

    def info(self):
        from wyoming.info import Attribution, Info, WakeModel, WakeProgram

        attribution = Attribution(name="Auricle", url="https://github.com/auricle/auricle")
        models = [
            WakeModel(
                name=word.name,
                description=f"'{word.label}' from model {word.bundle.name}",
                phrase=word.label.replace("_", " "),
                attribution=attribution,
                installed=True,
                languages=self.languages,
                version=str(word.bundle.provenance.get("auricle_version", __version__)),
            )
            for word in self.words.values()
        ]
        program = WakeProgram(
            name="auricle",
            description="Auricle keyword spotter",
            attribution=attribution,
            installed=True,
            version=__version__,
            models=models,
        )
        return Info(wake=[program])

    def new_session(self) -> Session:
        session = Session()
        for name, bundle in self.bundles.items():
            session.detectors[name] = Detector(bundle, **self.detector_options)
        return session


@dataclass(frozen=True)
class _Malformed:
    reason: str


def handler_class(service: WakeService):
    """An AsyncEventHandler subclass bound to ``service`` (the wyoming server makes one per client)."""
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import Describe
    from wyoming.server import AsyncEventHandler
    from wyoming.wake import Detect, Detection, NotDetected

    class Handler(AsyncEventHandler):
        def __init__(self, reader, writer):
            super().__init__(reader, writer)
            self.peer = writer.get_extra_info("peername")
            self.session: Session | None = None

        async def _read_event(self):
            """The next event, None at end of stream; _Malformed for a line that is not one.

            wyoming's own reader drops a bad line silently and ends the
            connection; this one says what was wrong and reads on.
            """
            line = await self.reader.readline()
            if not line:
                return None
            try:
                header = json.loads(line)
                data = dict(header.get("data") or {})
                if header.get("data_length"):
                    data.update(json.loads(await self.reader.readexactly(int(header["data_length"]))))
                payload = None
                if header.get("payload_length"):
                    payload = await self.reader.readexactly(int(header["payload_length"]))
                return Event(type=str(header["type"]), data=data, payload=payload)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                return _Malformed(f"{type(exc).__name__}: {exc}; line starts {line[:60]!r}")

        async def run(self) -> None:
            service.sessions.add(id(self))
            try:
                while True:
                    event = await self._read_event()
                    if event is None:
                        break
                    if isinstance(event, _Malformed):
                        await self._error(f"malformed event ({event.reason})", "malformed-event")
                        continue
                    try:
                        keep_going = await self.handle_event(event)
                    except (KeyError, TypeError, ValueError) as exc:  # e.g. audio-chunk without "rate"
                        await self._error(f"malformed {event.type} event ({type(exc).__name__}: {exc})", "malformed-event")
                        continue
                    if not keep_going:
                        break
            except (ConnectionError, asyncio.IncompleteReadError):
                log.info("client %s: connection lost", self.peer)
            finally:
                await self.disconnect()
                self.writer.close()

        async def disconnect(self) -> None:
            self.session = None  # frees the detectors
            service.sessions.discard(id(self))

        async def _error(self, text: str, code: str) -> None:
            log.warning("client %s: %s", self.peer, text)
            try:
                await self.write_event(Error(text=text, code=code).event())
            except ConnectionError:
                pass

        async def handle_event(self, event) -> bool:
            if Describe.is_type(event.type):
                await self.write_event(service.info().event())
            elif Detect.is_type(event.type):
                await self._detect(Detect.from_event(event).names)
            elif AudioStart.is_type(event.type):
                self._start()
            elif AudioChunk.is_type(event.type):
                await self._chunk(AudioChunk.from_event(event))
            elif AudioStop.is_type(event.type):
                if self.session is not None and self.session.streaming and not self.session.detected:
                    await self.write_event(NotDetected().event())
                if self.session is not None:
                    self.session.streaming = False
            else:
                log.debug("client %s: ignoring event %r", self.peer, event.type)
            return True

        async def _detect(self, names) -> None:
            self.session = self.session or service.new_session()
            if not names:
                self.session.active = None
                return
            unknown = sorted(set(names) - set(service.words))
            if unknown:
                await self._error(
                    f"unknown wake word(s) {unknown}; this service has {sorted(service.words)}", "unknown-wake-word"
                )
            known = set(names) & set(service.words)
            self.session.active = known or None

        def _start(self) -> None:
            self.session = self.session or service.new_session()
            for detector in self.session.detectors.values():
                detector.reset()
            self.session.detected = False
            self.session.streaming = True

        async def _chunk(self, chunk) -> None:
            if self.session is None or not self.session.streaming:
                self._start()  # a client that skips audio-start still gets a fresh stream
            try:
                samples = pcm_to_float(chunk.audio, width=chunk.width, channels=chunk.channels)
                events = []
                for detector in self.session.detectors.values():
                    events += [(detector.bundle, e) for e in detector.feed(samples, sample_rate=chunk.rate)]
            except AuricleError as exc:
                await self._error(str(exc), "bad-audio")
                return
            for bundle, event in events:
                name = next(
                    (w.name for w in service.words.values() if w.bundle is bundle and w.label == event.label), None
                )
                if name is None or (self.session.active is not None and name not in self.session.active):
                    continue
                self.session.detected = True
                await self.write_event(Detection(name=name, timestamp=int(round(event.end_s * 1000))).event())

    return Handler


async def serve(uri: str, service: WakeService, *, ready: asyncio.Event | None = None) -> None:
    """Run the server at ``uri`` (tcp://host:port or unix:///path) until cancelled."""
    from wyoming.server import AsyncServer

    try:
        server = AsyncServer.from_uri(uri)
    except ValueError as exc:
        raise ConfigError(f"wyoming: uri={uri!r} is not tcp://HOST:PORT or unix://PATH ({exc})") from None
    handler = handler_class(service)
    if ready is None:
        await server.run(handler)
        return
    await server.start(handler)
    ready.set()
    try:
        await asyncio.Future()  # until cancelled
    finally:
        await server.stop()


def wyoming_command(
    models: List[Path] = typer.Argument(..., help="Model artifacts; every foreground label is a wake word."),
    uri: str = typer.Option("tcp://0.0.0.0:10400", help="Where to listen: tcp://HOST:PORT or unix://PATH."),
    threshold: Optional[float] = typer.Option(None, help="Threshold for every wake word (default: the model's)."),
    language: List[str] = typer.Option(["en"], help="Language(s) to advertise."),
    threads: int = typer.Option(1, help="LiteRT threads per client stream."),
    debug: bool = typer.Option(False, help="Log every event."),
):
    """Serve models as wake words to Home Assistant over the Wyoming protocol."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = WakeService([Bundle.load(m) for m in models], languages=language, threshold=threshold, threads=threads)
    log.info("serving %s at %s", ", ".join(service.words), uri)
    try:
        asyncio.run(serve(uri, service))
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command("wyoming")(wyoming_command)

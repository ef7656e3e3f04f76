"""The Detector: audio blocks in, keyword events out.

Pipeline per block: resample (source rate -> model rate, soxr streaming) ->
streaming front end (new frames only) -> scorer (ring of the last window, or a
streaming model's state, ``sdk.streaming``) -> every ``hop_s`` one inference -> ``Smoother``
(moving mean, per-label thresholds, min_count, refractory) -> ``Detection``.

Inference points are fixed in frame numbers (the first when a whole window is
in, then every ``hop_frames``), so the events do not depend on how the audio
was cut into blocks. Memory is constant: rings and counters, no growing lists.

>>> detector = Detector(Bundle.load("kws.tflite"))            # doctest: +SKIP
>>> for event in detector.listen(Microphone()):               # doctest: +SKIP
...     print(event.label, event.time_s, event.score)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from sdk.audio import Resampler, to_mono
from sdk.bundle import Bundle
from sdk.engine import Engine
from sdk.errors import AudioError, ConfigError
from sdk.events import Detection
from sdk.frontend import FrontEnd
from sdk.scorers import WindowScorer
from sdk.smoothing import Smoother, check_threshold
from sdk.streaming import StreamingEngine, StreamingScorer
from sdk.vad import make_gate

LATENCY_HISTORY = 1000  # hops kept for latency percentiles


@dataclass
class StreamStats:
    """Running figures of one stream (constant size)."""

    audio_s: float = 0.0
    processing_s: float = 0.0  # time spent inside feed(): resampling, features, inference, smoothing
    inferences: int = 0
    skipped: int = 0  # inferences the voice gate skipped
    detections: int = 0
    overflows: int = 0  # from the source
    dropped_blocks: int = 0  # from the source
    level_db: float = -120.0  # RMS of the last block, dBFS
    # model time per inference point (window model: one run; streaming: the steps since the last point)
    _latencies_s: np.ndarray = field(default_factory=lambda: np.zeros(LATENCY_HISTORY), repr=False)
    _latency_count: int = 0

    def add_latency(self, seconds: float) -> None:
        self._latencies_s[self._latency_count % LATENCY_HISTORY] = seconds
        self._latency_count += 1

    @property
    def real_time_factor(self) -> float:
        return self.processing_s / self.audio_s if self.audio_s else 0.0

    def to_dict(self) -> dict:
        recent = self._latencies_s[: min(self._latency_count, LATENCY_HISTORY)]
        ms = (lambda q: float(np.percentile(recent, q) * 1000)) if recent.size else (lambda q: None)
        return {
            "audio_s": round(self.audio_s, 3),
            "processing_s": round(self.processing_s, 4),
            "real_time_factor": round(self.real_time_factor, 5),
            "inferences": self.inferences,
            "skipped": self.skipped,
            "detections": self.detections,
            "overflows": self.overflows,
            "dropped_blocks": self.dropped_blocks,
            "level_db": round(self.level_db, 1),
            "hop_latency_ms": {"median": ms(50), "p99": ms(99), "max": ms(100), "hops": int(recent.size)},
        }


class Detector:
    """Keyword detection on a stream, with defaults from the model artifact.

    Parameters
    ----------
    bundle : Bundle
        The model artifact; ``bundle.detection`` gives every default below.
    threshold : float, optional
        Threshold for every foreground label.
    thresholds : dict, optional
        Per-label thresholds; these win over ``threshold``.
    smoothing_s, refractory_s, hop_s : float, optional
        Moving-mean length, per-label suppression after an event, time between inferences.
    min_count : int, optional
        Consecutive inferences at or above threshold before an event.
    vad : None, "energy" or "webrtc"
        Skip inference while the whole window is silent (counted in ``stats.skipped``).
    threads, xnnpack
        Passed to ``sdk.engine.Engine``.

    Only the first head is detected on; its background labels (``head.background``
    and labels starting with ``_``) are never reported. A streaming-aware bundle
    (``bundle.streaming``) runs every frame through its state once; the voice gate
    then cannot skip steps and is ignored for inference (``stats.skipped`` stays 0).
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        threshold: float | None = None,
        thresholds: dict | None = None,
        smoothing_s: float | None = None,
        refractory_s: float | None = None,
        min_count: int | None = None,
        hop_s: float | None = None,
        vad: str | None = None,
        threads: int = 1,
        xnnpack: bool = True,
    ):
        if not isinstance(bundle, Bundle):
            raise ConfigError(f"Detector: bundle must be an sdk.bundle.Bundle, got {type(bundle).__name__}")
        self.bundle = bundle
        fe = bundle.frontend
        defaults = bundle.detection
        frame_s = fe.hop_ms / 1000.0
        hop_s = defaults.hop_s if hop_s is None else hop_s
        if not isinstance(hop_s, (int, float)) or not hop_s > 0:
            raise ConfigError(f"Detector: hop_s={hop_s!r} must be positive seconds")
        self.hop_frames = max(1, int(round(hop_s / frame_s)))
        self.hop_s = self.hop_frames * frame_s  # what really runs: a whole number of frames
        smoothing_s = defaults.smoothing_s if smoothing_s is None else smoothing_s
        refractory_s = defaults.refractory_s if refractory_s is None else refractory_s
        min_count = defaults.min_count if min_count is None else min_count
        for name, value in (("smoothing_s", smoothing_s), ("refractory_s", refractory_s)):
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"Detector: {name}={value!r} must be zero or positive seconds")
        self.smoothing_s, self.refractory_s, self.min_count = float(smoothing_s), float(refractory_s), min_count

        head = bundle.heads[0]
        self.labels = head.labels
        self.background = tuple(l for l in head.labels if l in head.background or l.startswith("_"))
        foreground = [l for l in head.labels if l not in self.background]
        base = check_threshold("threshold", defaults.threshold if threshold is None else threshold)
        self.thresholds = {label: base for label in foreground}
        for source, given in (("bundle detection.thresholds", {} if threshold is not None else defaults.thresholds),
                              ("thresholds", thresholds or {})):
            unknown = sorted(set(given) - set(foreground))
            if unknown:
                raise ConfigError(
                    f"Detector: {source} names {unknown}, which are not foreground labels of "
                    f"{bundle.source} ({foreground})"
                )
            self.thresholds.update({label: check_threshold(label, v) for label, v in given.items()})
        self.smoother = Smoother(
            self.labels,
            thresholds=self.thresholds,
            window=max(1, int(round(self.smoothing_s / self.hop_s))),
            min_count=min_count,
            refractory_s=self.refractory_s,
            background=self.background,
        )
        # What a skipped (silent) hop contributes to smoothing: no keyword, all background.
        self.silent_posterior = np.array(
            [0.0 if l in self.thresholds else 1.0 / max(1, len(self.background)) for l in self.labels], np.float32
        )
        if bundle.streaming:
            self.engine = StreamingEngine(bundle, threads=threads, xnnpack=xnnpack)
            self.scorer = StreamingScorer(bundle, self.engine)
            if self.hop_frames % self.engine.frames_per_step:
                raise ConfigError(
                    f"Detector: hop_s={self.hop_s:g} is {self.hop_frames} frames, not a multiple of the streaming "
                    f"model's frames_per_step={self.engine.frames_per_step}"
                )
        else:
            self.engine = Engine(bundle, threads=threads, xnnpack=xnnpack)
            self.scorer = WindowScorer(bundle, self.engine)
        self.frontend = FrontEnd(fe)
        self.gate = make_gate(vad, fe)
        self.vad = vad
        # Called as hop_listener(end_s, raw posterior, or None where the gate skipped) at every
        # inference point, before smoothing; sdk.stream_eval records score traces with it.
        self.hop_listener: Callable | None = None
        self.reset()

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget the stream: buffers, smoother, statistics, source rate."""
        self.frontend.reset()
        self.scorer.reset()
        self.smoother.reset()
        if self.gate is not None:
            self.gate.reset()
        self._activity = np.zeros(self.bundle.frontend.clip_frames, bool)  # voice flag per frame in the window
        self._frames_seen = 0
        self._model_s = 0.0  # model time since the last inference point (streaming models step in push)
        self._frames_to_next = self.scorer.first_frames  # first inference: a full window
        self._resampler: Resampler | None = None
        self.sample_rate: int | None = None  # of the incoming blocks
        self.stats = StreamStats()

    def scores(self) -> dict:
        """Latest smoothed score of every label (for a live view)."""
        return {label: float(s) for label, s in zip(self.labels, self.smoother.smoothed)}

    # ------------------------------------------------------------------ push
    def feed(self, block: np.ndarray, sample_rate: int | None = None) -> list[Detection]:
        """Push one block (any length, mono ``(n,)`` or ``(n, channels)``); return the events it completes.

        ``sample_rate`` is the block's rate (default: the model's); it may not
        change within a stream without ``reset()``.
        """
        started = time.perf_counter()
        rate = self._check_rate(sample_rate)
        if not isinstance(block, np.ndarray):
            raise AudioError(f"Detector.feed: block is a {type(block).__name__}, not a numpy array")
        mono = to_mono(block)
        if mono.size and not np.all(np.isfinite(mono)):
            raise AudioError("Detector.feed: block contains NaN or infinite samples")
        self.stats.audio_s += mono.shape[0] / rate
        if mono.size:
            self.stats.level_db = float(10 * np.log10(np.mean(np.square(mono, dtype=np.float64)) + 1e-12))
        events = self._process(self._resampler(mono))
        self.stats.processing_s += time.perf_counter() - started
        return events

    def flush(self) -> list[Detection]:
        """End of stream: push what the resampler still holds."""
        if self._resampler is None:
            return []
        return self._process(self._resampler(np.zeros(0, np.float32), last=True))

    def _check_rate(self, sample_rate) -> int:
        rate = self.bundle.frontend.sample_rate if sample_rate is None else sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise ConfigError(f"Detector.feed: sample_rate={sample_rate!r} must be a positive integer in Hz")
        if self.sample_rate is None:
            self.sample_rate = int(rate)
            self._resampler = Resampler(self.sample_rate, self.bundle.frontend.sample_rate)
        elif rate != self.sample_rate:
            raise ConfigError(
                f"Detector.feed: sample_rate changed from {self.sample_rate} to {rate} Hz within a stream; "
                "call reset() first"
            )
        return self.sample_rate

    def _process(self, samples: np.ndarray) -> list[Detection]:
        frames = self.frontend.push(samples)
        active = self.gate.push(samples) if self.gate is not None else None
        events: list[Detection] = []
        position = 0
        while position < frames.shape[0]:
            take = min(self._frames_to_next, frames.shape[0] - position)
            started = time.perf_counter()
            self.scorer.push(frames[position : position + take])  # a streaming model runs here
            self._model_s += time.perf_counter() - started
            if active is not None:
                self._push_activity(active[position : position + take])
            position += take
            self._frames_seen += take
            self._frames_to_next -= take
            if self._frames_to_next == 0:
                self._frames_to_next = self.hop_frames
                events.extend(self._infer())
        return events

    def _push_activity(self, flags: np.ndarray) -> None:
        k = flags.shape[0]
        if k >= self._activity.shape[0]:
            self._activity[:] = flags[-self._activity.shape[0] :]
        elif k:
            self._activity[:-k] = self._activity[k:]
            self._activity[-k:] = flags

    def _infer(self) -> list[Detection]:
        fe = self.bundle.frontend
        end_s = ((self._frames_seen - 1) * fe.hop_samples + fe.window_samples) / fe.sample_rate
        start_s = max(0.0, end_s - fe.clip_s)
        if self.gate is not None and self.scorer.skippable and not self._activity.any():
            self.stats.skipped += 1
            posterior = self.silent_posterior
            raw = None
        else:
            started = time.perf_counter()
            posterior = raw = self.scorer.score()
            self.stats.add_latency(self._model_s + time.perf_counter() - started)
            self.stats.inferences += 1
        self._model_s = 0.0
        if self.hop_listener is not None:
            self.hop_listener(end_s, raw)
        events = [
            Detection(label, score, start_s, end_s, model=self.bundle.name)
            for label, score in self.smoother.push(posterior, end_s)
        ]
        self.stats.detections += len(events)
        return events

    # ------------------------------------------------------------ iteration
    def listen(self, source: Iterable[np.ndarray], *, sample_rate: int | None = None) -> Iterator[Detection]:
        """Events from a source (``Microphone``, ``FileSource``, ... or any iterable of blocks).

        The rate comes from ``source.sample_rate``, else from ``sample_rate``.
        """
        rate = getattr(source, "sample_rate", None) or sample_rate
        if rate is None:
            raise ConfigError(
                "Detector.listen: the source has no sample_rate attribute; pass sample_rate= "
                "(or wrap it in sdk.sources.ArraySource)"
            )
        source_stats = getattr(source, "stats", None)
        for block in source:
            yield from self.feed(block, rate)
            if source_stats is not None:
                self.stats.overflows = source_stats.overflows
                self.stats.dropped_blocks = source_stats.dropped_blocks
        yield from self.flush()

    def run(self, source: Iterable[np.ndarray], on_detection: Callable[[Detection], object], *,
            sample_rate: int | None = None) -> StreamStats:
        """Call ``on_detection(event)`` for each event until the source ends; return the stream's stats."""
        for event in self.listen(source, sample_rate=sample_rate):
            on_detection(event)
        return self.stats

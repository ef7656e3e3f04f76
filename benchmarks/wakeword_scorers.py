"""Per-hop wake-word scores over a whole stream, for Auricle artifacts and the two open peers.

Every scorer turns 16 kHz mono float audio into an ``sdk.stream_eval.ScoreTrace``
(one score column per phrase) and says how a score becomes an event
(``sdk.det.EventRule``); the threshold sweep and the matching are then the same
code for all of them (``sdk.det``).

- ``auricle``: an artifact run by ``sdk.Detector`` (its own smoothing and rules).
- ``openwakeword``: ``pyopen-wakeword``'s models: the shared mel + speech
  embedding front end (one embedding per 80 ms), then the phrase's head; a raw
  score per 80 ms, no smoothing (openWakeWord's default use), 2 s refractory.
- ``microwakeword``: ``pymicro-wakeword``'s streaming models: its micro front
  end (10 ms frames) and the model every ``stride`` frames; the score is the
  mean over the model's ``sliding_window_size`` outputs, as the package detects.

CPU time is process time (``time.process_time``) spent in the scorer, per second
of audio: what a device would spend, front end included.
"""
from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass

import numpy as np

from sdk.det import EventRule
from sdk.errors import ConfigError
from sdk.stream_eval import ScoreTrace

RATE = 16000
PEER_REFRACTORY_S = 2.0


@dataclass
class Scored:
    trace: ScoreTrace
    rule: EventRule
    cpu_s: float  # process time spent scoring
    threshold: float | None = None  # the model's own operating point (Auricle: its calibrated threshold)


def _int16_bytes(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _trace(times: list[float], scores: list[float], samples: np.ndarray, cpu_s: float) -> ScoreTrace:
    return ScoreTrace(times_s=np.asarray(times, np.float64), posteriors=np.asarray(scores, np.float32)[:, None],
                      skipped=np.zeros(len(times), bool), duration_s=samples.shape[0] / RATE, processing_s=cpu_s)


def peer_models(kind: str) -> dict[str, pathlib.Path]:
    """Phrase id -> model file of a peer package (``openwakeword`` or ``microwakeword``)."""
    try:
        if kind == "openwakeword":
            import pyopen_wakeword as package
            suffix = ".tflite"
        elif kind == "microwakeword":
            import pymicro_wakeword as package
            suffix = ".json"
        else:
            raise ConfigError(f"unknown peer {kind!r}; expected openwakeword or microwakeword")
    except ImportError as exc:
        raise ConfigError(f"{kind}: {exc.name} is not installed (pip install 'auricle[bench]')") from None
    folder = pathlib.Path(package.__file__).parent / "models"
    skip = {"melspectrogram", "embedding_model"}
    return {p.stem: p for p in sorted(folder.glob(f"*{suffix}")) if p.stem not in skip}


def _peer_rule(phrase: str) -> EventRule:
    return EventRule((phrase,), (phrase,), 1, 1, PEER_REFRACTORY_S)


def score_openwakeword(phrases: list[str], samples: np.ndarray) -> dict[str, Scored]:
    """One pass of the shared front end (mel + embedding), then each phrase's head; each pays the front end."""
    from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

    models = peer_models("openwakeword")
    missing = [p for p in phrases if p not in models]
    if missing:
        raise ConfigError(f"openwakeword has no model for {missing}; it has {sorted(models)}")
    features = OpenWakeWordFeatures.from_builtin()
    chunk = 1280  # 80 ms: one embedding per chunk
    embeddings = []
    start = time.process_time()
    for i in range(0, samples.shape[0] - chunk + 1, chunk):
        embeddings.extend(((i + chunk) / RATE, e) for e in features.process_streaming(_int16_bytes(samples[i:i + chunk])))
    front_cpu = time.process_time() - start
    out = {}
    for phrase in phrases:
        model = OpenWakeWord.from_model(models[phrase])
        times, scores = [], []
        start = time.process_time()
        for end_s, embedding in embeddings:
            for score in model.process_streaming(embedding):
                times.append(end_s)
                scores.append(score)
        cpu_s = front_cpu + time.process_time() - start
        out[phrase] = Scored(_trace(times, scores, samples, cpu_s), _peer_rule(phrase), cpu_s)
    return out


def score_microwakeword(phrases: list[str], samples: np.ndarray) -> dict[str, Scored]:
    """One pass of the micro front end (10 ms frames), then each phrase's streaming model."""
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

    configs = peer_models("microwakeword")
    missing = [p for p in phrases if p not in configs]
    if missing:
        raise ConfigError(f"microwakeword has no model for {missing}; it has {sorted(configs)}")
    features, chunk, frames = MicroWakeWordFeatures(), 160, []
    start = time.process_time()
    for i in range(0, samples.shape[0] - chunk + 1, chunk):
        frames.extend(((i + chunk) / RATE, f) for f in features.process_streaming(_int16_bytes(samples[i:i + chunk])))
    front_cpu = time.process_time() - start
    out = {}
    for phrase in phrases:
        model = MicroWakeWord.from_config(configs[phrase])
        times, scores = [], []
        start = time.process_time()
        for end_s, frame in frames:
            score = model.process_streaming_prob(frame)
            if score is not None:
                times.append(end_s)
                scores.append(score)
        cpu_s = front_cpu + time.process_time() - start
        out[phrase] = Scored(_trace(times, scores, samples, cpu_s), _peer_rule(phrase), cpu_s)
    return out


def score_auricle(path: str, samples: np.ndarray) -> Scored:
    from sdk.bundle import Bundle
    from sdk.detector import Detector
    from sdk.stream_eval import trace_scores

    detector = Detector(Bundle.load(path))
    start = time.process_time()
    trace = trace_scores(detector, samples, RATE)
    cpu_s = time.process_time() - start
    return Scored(trace, EventRule.of(detector), cpu_s, float(min(detector.thresholds.values())))


def auricle_variant(path: str) -> str:
    """``auricle`` (a student on Auricle's log-mel) or ``auricle_embedding`` (a head on the speech embedding)."""
    from sdk.bundle import Bundle

    return "auricle_embedding" if Bundle.load(path).frontend.kind == "speech_embedding" else "auricle"


def model_bytes(kind: str, phrase_or_path: str) -> int:
    """Bytes of every model file the detector needs (openWakeWord and Auricle's embedding heads: the mel and
    embedding models too)."""
    if kind == "auricle":
        size = pathlib.Path(phrase_or_path).stat().st_size
        if auricle_variant(phrase_or_path) == "auricle_embedding":
            from sdk.speech_embedding import model_files

            size += sum(p.stat().st_size for p in model_files())
        return size
    path = peer_models(kind)[phrase_or_path]
    if kind == "microwakeword":
        return path.with_suffix(".tflite").stat().st_size
    shared = [path.parent / "melspectrogram.tflite", path.parent / "embedding_model.tflite"]
    return sum(p.stat().st_size for p in [path, *shared])

"""Classify whole files: slide the model window over the clip and aggregate."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from sdk.audio import fit_length, load_audio
from sdk.bundle import Bundle
from sdk.engine import Engine
from sdk.frontend import features


@dataclass(frozen=True)
class Classification:
    """The result for one file: top label, its score, and every label's score per head."""

    path: str
    label: str
    score: float
    scores: dict  # head name -> {label: score}
    duration_s: float


def window_scores(bundle: Bundle, engine: Engine, samples: np.ndarray, *, hop_s: float = 0.25) -> list[np.ndarray]:
    """Per-head scores ``(windows, classes)`` for every model window over ``samples``.

    Clips shorter than one window are padded with silence (centred).
    """
    fe = bundle.frontend
    if samples.shape[0] < fe.clip_samples:
        samples = fit_length(samples, fe.clip_samples)
    frames = features(samples, config=fe)
    hop_frames = max(1, int(round(hop_s * 1000 / fe.hop_ms)))
    starts = list(range(0, frames.shape[0] - fe.clip_frames + 1, hop_frames))
    if starts[-1] != frames.shape[0] - fe.clip_frames:
        starts.append(frames.shape[0] - fe.clip_frames)  # the clip's end is always seen
    windows = np.stack([frames[s : s + fe.clip_frames] for s in starts])
    return engine.predict_batch(windows)


def aggregate(bundle: Bundle, head_scores: np.ndarray, head_index: int = 0) -> np.ndarray:
    """One score vector from many windows.

    ``mean`` averages windows (scenes, emotion). ``peak`` takes the window
    where a foreground label scores highest (a keyword is somewhere in the
    clip); if no window has a foreground label on top, it averages.
    """
    if bundle.aggregate == "mean" or head_scores.shape[0] == 1:
        return head_scores.mean(axis=0)
    head = bundle.heads[head_index]
    foreground = np.array([label not in head.background for label in head.labels])
    if not foreground.any():
        return head_scores.mean(axis=0)
    winners = head_scores.argmax(axis=1)
    candidates = np.flatnonzero(foreground[winners])
    if candidates.size == 0:
        return head_scores.mean(axis=0)
    best = candidates[np.argmax(head_scores[candidates][:, foreground].max(axis=1))]
    return head_scores[best]


def classify_file(bundle: Bundle, path: str | os.PathLike, *, engine: Engine | None = None) -> Classification:
    engine = engine or Engine(bundle)
    samples = load_audio(path, bundle.frontend.sample_rate)
    per_head = window_scores(bundle, engine, samples)
    scores = {}
    for i, (head, head_scores) in enumerate(zip(bundle.heads, per_head)):
        combined = aggregate(bundle, head_scores, i)
        scores[head.name] = {label: float(s) for label, s in zip(head.labels, combined)}
    first = scores[bundle.heads[0].name]
    label = max(first, key=first.get)
    return Classification(os.fspath(path), label, first[label], scores, samples.shape[0] / bundle.frontend.sample_rate)

"""Turning a stream of feature frames into model scores at inference points.

``WindowScorer`` keeps the last ``clip_frames`` frames in a fixed ring and runs
an ordinary (whole-window) model on them. ``StreamingScorer`` (in
``sdk.streaming``) runs a streaming-aware model that carries its own state and
sees each frame once. Both have ``push(frames)``, ``score()``, ``reset()``, ``first_frames``
(frames before the first score) and ``skippable`` (may a voice gate skip it).
"""
from __future__ import annotations

import numpy as np

from sdk.bundle import Bundle
from sdk.engine import Engine


class WindowScorer:
    """The last ``clip_frames`` frames, re-run through the model at each score."""

    skippable = True  # scores depend only on the window, so silent windows may skip the model
    streaming = False

    def __init__(self, bundle: Bundle, engine: Engine):
        self.engine = engine
        fe = bundle.frontend
        self.clip_frames = fe.clip_frames
        self.first_frames = fe.clip_frames  # frames before the first score
        self._ring = np.zeros((fe.clip_frames, fe.num_features), np.float32)
        self._seen = 0

    def push(self, frames: np.ndarray) -> None:
        k = frames.shape[0]
        if k >= self.clip_frames:
            self._ring[:] = frames[-self.clip_frames :]
        elif k:
            self._ring[:-k] = self._ring[k:]
            self._ring[-k:] = frames
        self._seen += k

    def window(self) -> np.ndarray:
        """The current model input, ``(clip_frames, num_features)`` (a view; copy to keep)."""
        return self._ring

    def score(self) -> np.ndarray:
        return self.engine.predict(self._ring)

    def reset(self) -> None:
        self._ring[:] = 0.0
        self._seen = 0

"""From per-hop posteriors to events: moving mean, threshold, min_count, refractory.

The rules, per foreground label, at each inference hop ``i`` (time ``t_i``):

1. ``smoothed_i`` is the mean of the last ``window`` raw posteriors (fewer at
   the start of a stream).
2. ``count_i`` is the number of consecutive hops, ending at ``i``, with
   ``smoothed >= threshold``.
3. An event fires at ``i`` when ``count_i >= min_count`` and no event of that
   label fired at a time ``> t_i - refractory_s`` (``t_i >= t_last + refractory_s``).

Background labels are smoothed (for a live view) but never fire. ``Smoother``
applies the rules online, one hop at a time, in constant memory; the functions
``moving_mean`` and ``event_indices`` apply the same rules to a whole recorded
score trace, so a threshold sweep reuses one model run (``sdk.stream_eval``).
A test holds the two to the same events.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sdk.errors import ConfigError


def check_threshold(label: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 < value <= 1.0:
        raise ConfigError(f"threshold for {label!r} is {value!r}; expected a number in (0, 1]")
    return float(value)


class Smoother:
    """Online smoothing and event decisions for one head.

    Parameters
    ----------
    labels : sequence of str
        The head's labels, in score order.
    thresholds : dict
        Threshold per foreground label (every label not in ``background``).
    window : int
        Hops in the moving mean (1 = no smoothing).
    min_count : int
        Consecutive hops at or above threshold before an event.
    refractory_s : float
        Seconds after an event during which the same label cannot fire again.
    background : sequence of str
        Labels never reported.
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        thresholds: dict,
        window: int = 1,
        min_count: int = 1,
        refractory_s: float = 0.0,
        background: Sequence[str] = (),
    ):
        self.labels = tuple(labels)
        if not isinstance(window, (int, np.integer)) or window < 1:
            raise ConfigError(f"Smoother: window={window!r} must be a positive number of hops")
        if not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ConfigError(f"Smoother: min_count={min_count!r} must be a positive integer")
        if not refractory_s >= 0:
            raise ConfigError(f"Smoother: refractory_s={refractory_s!r} must be zero or positive")
        unknown = sorted(set(background) - set(self.labels))
        if unknown:
            raise ConfigError(f"Smoother: background labels {unknown} are not among {list(self.labels)}")
        self.foreground = tuple(i for i, label in enumerate(self.labels) if label not in set(background))
        missing = [self.labels[i] for i in self.foreground if self.labels[i] not in thresholds]
        if missing:
            raise ConfigError(f"Smoother: no threshold for label(s) {missing}")
        self.thresholds = np.array(
            [check_threshold(self.labels[i], thresholds[self.labels[i]]) for i in self.foreground], np.float64
        )
        self.window, self.min_count, self.refractory_s = int(window), int(min_count), float(refractory_s)
        self.reset()

    def reset(self) -> None:
        self._ring = np.zeros((self.window, len(self.labels)), np.float64)
        self._filled = 0
        self._next = 0
        self._counts = np.zeros(len(self.foreground), np.int64)
        self._last_event_s = np.full(len(self.foreground), -np.inf)
        self.smoothed = np.zeros(len(self.labels), np.float32)

    def push(self, posterior: np.ndarray, time_s: float) -> list[tuple[str, float]]:
        """Add one hop's raw posterior; return ``(label, smoothed score)`` for each event it fires."""
        posterior = np.asarray(posterior, np.float64).reshape(-1)
        if posterior.shape[0] != len(self.labels):
            raise ConfigError(f"Smoother: posterior has {posterior.shape[0]} scores, expected {len(self.labels)}")
        self._ring[self._next] = posterior
        self._next = (self._next + 1) % self.window
        self._filled = min(self._filled + 1, self.window)
        # Oldest first, as moving_mean adds them, so online and offline agree to the bit.
        total = np.zeros(len(self.labels))
        for j in range(self.window):
            total = total + self._ring[(self._next + j) % self.window]
        smoothed = total / self._filled
        self.smoothed = smoothed.astype(np.float32)
        scores = smoothed[list(self.foreground)]
        above = scores >= self.thresholds
        self._counts = np.where(above, self._counts + 1, 0)
        fire = (self._counts >= self.min_count) & (time_s >= self._last_event_s + self.refractory_s)
        events = []
        for k in np.flatnonzero(fire):
            self._last_event_s[k] = time_s
            events.append((self.labels[self.foreground[k]], float(scores[k])))
        return events


def moving_mean(posteriors: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` rows of ``(hops, labels)``; the first rows average what exists."""
    x = np.asarray(posteriors, np.float64)
    if x.ndim != 2:
        raise ConfigError(f"moving_mean: posteriors must be (hops, labels), got shape {x.shape}")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ConfigError(f"moving_mean: window={window!r} must be a positive number of hops")
    n = x.shape[0]
    padded = np.concatenate([np.zeros((window - 1, x.shape[1])), x])
    total = np.zeros((n, x.shape[1]))
    for j in range(window):  # oldest first, the order Smoother adds them in
        total = total + padded[j : j + n]
    return total / np.minimum(np.arange(1, n + 1), window)[:, None]


def event_indices(
    times_s: np.ndarray, scores: np.ndarray, *, threshold: float, min_count: int, refractory_s: float
) -> np.ndarray:
    """Hops at which one label fires, for smoothed ``scores`` ``(hops,)`` at ``times_s``."""
    scores = np.asarray(scores)
    times_s = np.asarray(times_s, np.float64)
    above = scores >= threshold
    # Run length of consecutive True values ending at each hop.
    idx = np.arange(above.shape[0])
    last_false = np.maximum.accumulate(np.where(~above, idx, -1))
    counts = np.where(above, idx - last_false, 0)
    candidates = np.flatnonzero(counts >= min_count)
    candidate_times = times_s[candidates]
    fired = []
    position = 0
    while position < candidates.shape[0]:
        fired.append(candidates[position])
        # Skip to the first candidate with t >= t_last + refractory_s, Smoother's own test.
        after = candidate_times[position] + refractory_s
        position = max(position + 1, int(np.searchsorted(candidate_times, after, side="left")))
    return np.asarray(fired, np.int64)

"""DET points for a stream: one threshold sweep, and the miss rate at fixed false-accept rates.

Wake-word results are quoted as the miss rate at a false-accept budget per
hour (Picovoice, openWakeWord: 1, 0.5 and 0.1 per hour). A rate is only
resolved when the background lasts long enough to hold at least one false
accept at it: 0 false accepts in 2 hours says "under 0.5 per hour", not
"under 0.1".
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sdk.smoothing import event_indices, moving_mean

FALSE_ACCEPT_TARGETS = (1.0, 0.5, 0.1)
# Coarse over the usual range, dense towards 1 where low false-accept rates live.
DET_THRESHOLDS = tuple(sorted(set(np.round(np.linspace(0.05, 0.99, 48), 3).tolist())
                              | set(np.round(1.0 - np.logspace(-4, -2, 13), 5).tolist())))


def match(events: list[tuple[str, float]], placements: Sequence, *, tolerance_s: float):
    """``(hits, false_accepts)`` for events ``(label, time_s)`` against the placed keywords."""
    taken = [False] * len(placements)
    hits = false_accepts = 0
    for label, time_s in sorted(events, key=lambda e: e[1]):
        for i, p in enumerate(placements):
            if not taken[i] and p.label == label and p.start_s <= time_s <= p.end_s + tolerance_s:
                taken[i] = True
                hits += 1
                break
        else:
            false_accepts += 1
    return hits, false_accepts


@dataclass(frozen=True)
class EventRule:
    """How scores become events: which score columns are keywords, smoothing window, hits in a row, refractory."""

    labels: tuple[str, ...]  # one per score column
    keywords: tuple[str, ...]  # the columns that fire events
    window: int = 1  # hops averaged before the threshold
    min_count: int = 1
    refractory_s: float = 2.0

    @classmethod
    def of(cls, detector) -> "EventRule":
        """The rule an ``sdk.Detector`` applies online."""
        return cls(tuple(detector.labels), tuple(detector.thresholds), detector.smoother.window,
                   detector.min_count, detector.refractory_s)

    def smooth(self, trace) -> np.ndarray:
        return moving_mean(trace.posteriors, self.window)

    def events(self, trace, threshold: float, smoothed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Events at ``threshold``; ``smoothed`` (from :meth:`smooth`) spares a sweep smoothing once per threshold."""
        smoothed = self.smooth(trace) if smoothed is None else smoothed
        events = []
        for k, label in enumerate(self.labels):
            if label in self.keywords:
                fired = event_indices(trace.times_s, smoothed[:, k], threshold=threshold,
                                      min_count=self.min_count, refractory_s=self.refractory_s)
                events.extend((label, float(trace.times_s[i])) for i in fired)
        return events


def sweep(trace, placements: Sequence, rule: EventRule, *, thresholds: Sequence[float], tolerance_s: float = 1.0) -> list[dict]:
    """FRR and false accepts per hour at each threshold (one threshold for every keyword)."""
    hours = trace.duration_s / 3600.0
    rows = []
    smoothed = rule.smooth(trace)
    for threshold in thresholds:
        hits, false_accepts = match(rule.events(trace, threshold, smoothed), placements, tolerance_s=tolerance_s)
        rows.append({
            "threshold": float(threshold),
            "false_reject_rate": 1.0 - hits / len(placements) if placements else None,
            "false_accepts_per_hour": false_accepts / hours,
            "hits": hits,
            "misses": len(placements) - hits,
            "false_accepts": false_accepts,
        })
    return rows


def miss_at_false_accepts(rows: Sequence[dict], duration_s: float, targets: Sequence[float] = FALSE_ACCEPT_TARGETS) -> list[dict]:
    """For each target rate, the sweep row with the fewest misses at or under it (lowest threshold on ties)."""
    hours = duration_s / 3600.0
    points = []
    for target in targets:
        allowed = [r for r in rows if r["false_accepts_per_hour"] <= target and r["false_reject_rate"] is not None]
        best = min(allowed, key=lambda r: (r["false_reject_rate"], r["threshold"]), default=None)
        point = {"false_accepts_per_hour_target": target, "threshold": None, "false_reject_rate": None,
                 "false_accepts_per_hour": None, "resolved": hours * target >= 1.0,
                 "note": f"{hours:.2f} h of stream resolves rates down to {1.0 / hours:.2f} per hour" if hours else ""}
        if best is not None:
            point.update(threshold=best["threshold"], false_reject_rate=best["false_reject_rate"],
                         false_accepts_per_hour=best["false_accepts_per_hour"])
        points.append(point)
    return points


def plot_det(rows: list[dict], path: str | os.PathLike, *, title: str) -> bool:
    """DET curve (false-reject rate against false accepts per hour) as PNG; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fa = np.array([r["false_accepts_per_hour"] for r in rows])
    frr = np.array([r["false_reject_rate"] for r in rows])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(np.maximum(fa, 0.1), frr * 100, marker=".")
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour (0 drawn at 0.1)")
    ax.set_ylabel("false-reject rate (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True

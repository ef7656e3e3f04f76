"""Per-call latency of code paths, measured in rounds so a busy machine's load falls on all alike."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def latency_ms(runners: dict[str, Callable[[], object]], *, runs: int, rounds: int = 10,
               warmup: int = 20) -> dict[str, dict]:
    """Median and p99 milliseconds per call of each runner.

    ``runs`` calls per runner in all, split over ``rounds`` rounds that visit
    every runner in turn.
    """
    if runs < rounds:
        rounds = max(1, runs)
    for run in runners.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runners}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for name, run in runners.items():
            for _ in range(per_round):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_ms": float(np.median(t) * 1e3),
            "p99_ms": float(np.percentile(t, 99) * 1e3),
            "runs": len(t),
        }
        for name, t in times.items()
    }

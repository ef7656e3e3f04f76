"""Inference time of one model window with 1, 2 and 4 LiteRT threads, as JSON.

    python benchmarks/engine_threads.py MODEL.tflite [--out threads.json] [--seconds 3]   # about 10 s

Run it on the board itself (a Pi 4 or 5) with the microphone service stopped:
numbers from another machine say nothing about a Pi. Reports the median and
99th percentile of single-window latency, and the share of one core that
real-time use at the model's hop would take.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout
from benchmarks import results_io  # noqa: E402
from sdk import Bundle, Engine  # noqa: E402


def measure(bundle: Bundle, threads: int, seconds: float, xnnpack: bool = True) -> dict:
    engine = Engine(bundle, threads=threads, xnnpack=xnnpack)
    fe = bundle.frontend
    window = np.random.default_rng(0).normal(-6, 3, (fe.clip_frames, fe.num_features)).astype(np.float32)
    for _ in range(20):  # warm-up: XNNPACK packs weights on first use
        engine.predict(window)
    times_ms = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        engine.predict(window)
        times_ms.append((time.perf_counter() - start) * 1000)
    median_ms = float(np.median(times_ms))
    hop_ms = bundle.detection.hop_s * 1000
    return {
        "threads": threads,
        "xnnpack": xnnpack,
        "runs": len(times_ms),
        "median_ms": round(median_ms, 4),
        "p99_ms": round(float(np.percentile(times_ms, 99)), 4),
        "core_share_at_hop": round(median_ms / hop_ms, 5),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--out", default="engine_threads.json")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    bundle = Bundle.load(args.model)
    result = {
        "model": args.model,
        "model_bytes": len(bundle.model),
        "hop_s": bundle.detection.hop_s,
        "runs": [measure(bundle, threads, args.seconds) for threads in (1, 2, 4)],
    }
    results_io.write(args.out, result)  # with the board's CPU, cores and package versions
    for run in result["runs"]:
        print(f"threads={run['threads']}: median {run['median_ms']:.3f} ms, p99 {run['p99_ms']:.3f} ms, "
              f"{100 * run['core_share_at_hop']:.2f}% of a core at hop {bundle.detection.hop_s} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Front-end cost per second of audio: whole clip, and streaming in small blocks.

    python benchmarks/frontend.py --out benchmarks/results/frontend.json   # about 10 s

Writes JSON (benchmarks.results_io); each figure is the median of --repeats runs on one core.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks import results_io  # noqa: E402
from sdk.frontend import FrontEnd, FrontEndConfig, features  # noqa: E402

CONFIGS = {
    "logmel40_30ms_20ms": FrontEndConfig(),
    "logmel40_30ms_10ms": FrontEndConfig(hop_ms=10),
    "mfcc10_40ms_20ms": FrontEndConfig(window_ms=40, hop_ms=20, n_fft=1024, n_mfcc=10),
}


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config: FrontEndConfig, *, audio_s: float, block_ms: float, repeats: int) -> dict:
    audio = np.random.default_rng(0).normal(0, 0.1, int(audio_s * config.sample_rate)).astype(np.float32)
    block = int(config.sample_rate * block_ms / 1000)
    whole = median_seconds(lambda: features(audio, config=config), repeats)

    def stream():
        fe = FrontEnd(config)
        for i in range(0, audio.size, block):
            fe.push(audio[i : i + block])

    streamed = median_seconds(stream, repeats)
    return {
        "frames_per_audio_s": config.frames_in(config.sample_rate),
        "whole_clip_ms_per_audio_s": 1000 * whole / audio_s,
        "streaming_ms_per_audio_s": 1000 * streamed / audio_s,
        "streaming_block_ms": block_ms,
        "streaming_real_time_factor": streamed / audio_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/frontend.json")
    parser.add_argument("--audio-s", type=float, default=60.0)
    parser.add_argument("--block-ms", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as on a busy Pi
    start = time.perf_counter()
    result = {
        "cores_used": 1,
        "audio_s": args.audio_s,
        "configs": {name: measure(cfg, audio_s=args.audio_s, block_ms=args.block_ms, repeats=args.repeats)
                    for name, cfg in CONFIGS.items()},
    }
    results_io.write(args.out, result, elapsed_s=time.perf_counter() - start)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

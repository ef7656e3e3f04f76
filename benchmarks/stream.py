"""Streaming cost on one CPU core: real-time factor, per-hop latency, CPU%, peak RSS.

    python benchmarks/stream.py --minutes 10 --streaming --out benchmarks/results/stream.json   # about 5 min

A synthetic stream (noise with a spoken "yes" every 5 s, a 30 s loop so the
stream itself takes no memory) is fed in 20 ms blocks as fast as possible
(``--realtime`` paces it), through the whole Detector: resampling (with
``--input-rate`` other than the model's), features, inference, smoothing.

* real_time_factor: wall time inside Detector.feed / audio time; real_time_factor_cpu
  counts the thread's CPU time instead (robust on a shared machine).
* hop latency: wall time of the feed() calls that ran an inference (block in ->
  events out), all hops, median and p99; ``inference_ms`` is the model alone.
* cpu_percent: process CPU time / wall time; peak_rss_mb: ru_maxrss after the run.

Without ``--model`` the fixture-style model from tests/stream_model.py is used
(trained in a separate process, so TensorFlow never loads here). ``--streaming``
also runs the streaming-aware model of the same architecture when it exists.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import results_io  # noqa: E402
from sdk.audio import resample  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.detector import Detector  # noqa: E402


def fixture_model(kind: str) -> str:
    """Path of a test model, built in a child process that may import TF.

    ``tiny``: the test fixture's model; ``streamable-window`` / ``streamable-streaming``: one
    model with time stride 1, as a whole-window artifact and as a streaming artifact.
    """
    expression = {"tiny": "stream_model.yes_bundle_path()",
                  "streamable-window": "stream_model.yes_streaming_bundle_paths()[0]",
                  "streamable-streaming": "stream_model.yes_streaming_bundle_paths()[1]",
                  "wide-window": "stream_model.wide_streamable_paths()[0]",
                  "wide-streaming": "stream_model.wide_streamable_paths()[1]"}[kind]
    code = (f"import sys; sys.path[:0] = [{ROOT!r}, {os.path.join(ROOT, 'tests')!r}]; import stream_model; "
            f"print({expression})")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def loop_audio(rate: int) -> np.ndarray:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import stream_model

    rng = np.random.default_rng(0)
    loop = stream_model.noise(rng, 30 * 16000, -40)
    clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE) * 0.5
    for start_s in range(2, 30, 5):
        loop[start_s * 16000 : start_s * 16000 + clip.shape[0]] += clip
    return resample(loop, 16000, rate)


def run(bundle: Bundle, *, minutes: float, input_rate: int, block_s: float, realtime: bool, vad) -> dict:
    detector = Detector(bundle, vad=vad)
    loop = loop_audio(input_rate)
    block = int(round(block_s * input_rate))
    blocks_total = int(minutes * 60 / block_s)
    hop_latency = np.zeros(blocks_total)
    hop_cpu = np.zeros(blocks_total)
    feed_cpu_s = 0.0
    hops = 0
    events = 0
    position = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(blocks_total):
        if position + block > loop.shape[0]:
            position = 0
        piece = loop[position : position + block]
        position += block
        if realtime:
            delay = wall0 + i * block_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        before = detector.stats.inferences + detector.stats.skipped
        started, started_cpu = time.perf_counter(), time.thread_time()
        events += len(detector.feed(piece, input_rate))
        elapsed, elapsed_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        feed_cpu_s += elapsed_cpu
        if detector.stats.inferences + detector.stats.skipped > before:
            hop_latency[hops], hop_cpu[hops] = elapsed, elapsed_cpu
            hops += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stats = detector.stats.to_dict()
    lat, lat_cpu = hop_latency[:hops] * 1000, hop_cpu[:hops] * 1000
    return {
        "model": bundle.name,
        "streaming": bool(getattr(detector.scorer, "streaming", False)),
        "input_rate": input_rate,
        "audio_s": stats["audio_s"],
        "real_time_factor": stats["real_time_factor"],
        "real_time_factor_cpu": feed_cpu_s / stats["audio_s"],
        "hop_latency_ms": {"median": float(np.median(lat)), "p99": float(np.percentile(lat, 99)), "hops": hops},
        "hop_cpu_ms": {"median": float(np.median(lat_cpu)), "p99": float(np.percentile(lat_cpu, 99))},
        "inference_ms": stats["hop_latency_ms"],
        "inferences": stats["inferences"],
        "skipped": stats["skipped"],
        "events": events,
        "wall_s": wall,
        "cpu_percent": 100.0 * cpu / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "realtime": realtime,
        "vad": vad,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="artifact to measure (default: the test fixture's model)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--input-rate", type=int, action="append", help="source rate(s); default 16000 and 48000")
    parser.add_argument("--block-s", type=float, default=0.02)
    parser.add_argument("--realtime", action="store_true", help="pace blocks like a microphone")
    parser.add_argument("--vad", choices=["energy", "webrtc"])
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core (os.sched_setaffinity)")
    parser.add_argument("--streaming", action="store_true",
                        help="also measure one streamable model, re-run per hop and as a streaming artifact")
    parser.add_argument("--out", help="write JSON here")
    args = parser.parse_args(argv)
    models = [("given" if args.model else "tiny", args.model or fixture_model("tiny"))]
    if args.streaming:
        models += [(kind, fixture_model(kind)) for kind in ("streamable-window", "streamable-streaming",
                                                            "wide-window", "wide-streaming")]
    os.sched_setaffinity(0, {args.cpu})
    start = time.perf_counter()
    results = []
    for kind, path in models:
        bundle = Bundle.load(path)
        for rate in args.input_rate or [16000, 48000]:
            result = run(bundle, minutes=args.minutes, input_rate=rate, block_s=args.block_s,
                         realtime=args.realtime, vad=args.vad)
            result["kind"] = kind
            results.append(result)
            print(json.dumps(result), flush=True)
    by_kind = {r["kind"]: r for r in results if r["input_rate"] == results[0]["input_rate"]}
    comparisons = {}
    for name in ("streamable", "wide"):
        if f"{name}-window" in by_kind and f"{name}-streaming" in by_kind:
            window, stream = by_kind[f"{name}-window"], by_kind[f"{name}-streaming"]
            # Per hop: the whole window once, against the steps (frames_per_step each) making one hop.
            comparisons[name] = {
                "model_ms_per_hop_window": window["inference_ms"]["median"],
                "model_ms_per_hop_streaming": stream["inference_ms"]["median"],
                "model_cost_ratio": window["inference_ms"]["median"] / stream["inference_ms"]["median"],
                "pipeline_rtf_cpu_ratio": window["real_time_factor_cpu"] / stream["real_time_factor_cpu"],
            }
    if comparisons:
        print(json.dumps({"window_vs_streaming": comparisons}))
    if args.out:
        results_io.write(args.out, {"minutes": args.minutes, "cpu_pinned": args.cpu, "runs": results,
                                    "window_vs_streaming": comparisons}, elapsed_s=time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-inference latency on LiteRT: int8 and float32 models, XNNPACK on/off, 1 and 2 threads.

    python benchmarks/engine.py --out benchmarks/results/engine.json [--model PATH ...]   # about 2 min

Without --model it builds zoo models (untrained; latency does not depend on
the weights' values) and converts them with the same export as training.
Writes JSON (benchmarks.results_io): median and p99 latency in ms per configuration.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks import results_io  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402
from sdk.timing import latency_ms  # noqa: E402

ZOO_MODELS = ("cnn_small", "ds_cnn_s", "bc_resnet")


def zoo_bundles(frontend: FrontEndConfig, num_classes: int = 12) -> dict:
    """{name: Bundle} for int8 and float32 versions of a few zoo models."""
    from quantize.train import zoo
    from quantize.export.int8 import to_tflite

    labels = [f"class{i}" for i in range(num_classes)]
    calibration = np.random.default_rng(0).normal(-6, 3, (64, frontend.clip_frames, frontend.num_features))
    bundles = {}
    for name in ZOO_MODELS:
        model = zoo.build(name, (frontend.clip_frames, frontend.num_features), num_classes)
        for mode in ("int8", "float32"):
            tflite = to_tflite(model, mode=mode, calibration=calibration.astype(np.float32))
            bundles[f"{name}_{mode}"] = Bundle.create(tflite, frontend=frontend, labels=labels, name=name)
    return bundles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="Auricle artifact(s); default: zoo models")
    parser.add_argument("--out", default="benchmarks/results/engine.json")
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    start = time.perf_counter()
    frontend = FrontEndConfig()
    bundles = {os.path.basename(p): Bundle.load(p) for p in args.model} or zoo_bundles(frontend)
    results = {}
    for name, bundle in bundles.items():
        window = np.random.default_rng(1).normal(-6, 3, (bundle.frontend.clip_frames, bundle.frontend.num_features))
        window = window.astype(np.float32)
        entry = {"model_bytes": len(bundle.model), "input_dtype": bundle.inputs[0].dtype, "configs": {}}
        runners = {}
        for xnnpack in (True, False):
            for threads in (1, 2):
                engine = Engine(bundle, threads=threads, xnnpack=xnnpack)
                runners[f"{'xnnpack' if xnnpack else 'builtin'}_{threads}thread"] = (
                    lambda engine=engine: engine.predict(window)
                )
        entry["configs"] = latency_ms(runners, runs=args.runs)
        results[name] = entry
        print(name, {k: round(v["median_ms"], 3) for k, v in entry["configs"].items()}, flush=True)
    results_io.write(args.out, {"runs_per_config": args.runs, "models": results},
                     elapsed_s=time.perf_counter() - start)


if __name__ == "__main__":
    main()

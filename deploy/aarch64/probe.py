"""Run on both architectures: every window's scores, with and without XNNPACK, as JSON.

    python deploy/aarch64/probe.py MODEL CLIP > probe.json

Only the runtime (``sdk``) is imported, so it runs in the TensorFlow-free root.
"""
from __future__ import annotations

import json
import platform
import sys

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))  # the source tree

import numpy as np

from sdk import Bundle, Engine, load_audio
from sdk.classify import window_scores


def main(model_path: str, clip_path: str) -> None:
    bundle = Bundle.load(model_path)
    samples = load_audio(clip_path, bundle.frontend.sample_rate)
    report = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "output_scale": bundle.outputs[0].scale,
        "labels": list(bundle.labels),
        "samples_abs_sum": float(np.abs(samples, dtype=np.float64).sum()),  # resampler agreement
    }
    for name, xnnpack in (("xnnpack", True), ("builtin", False)):
        scores = window_scores(bundle, Engine(bundle, xnnpack=xnnpack), samples)[0]
        report[name] = scores.tolist()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:3])

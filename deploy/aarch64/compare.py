"""Compare the x86-64 and aarch64 results of ``auricle classify --json`` and probe.py.

    python deploy/aarch64/compare.py X86_DIR ARM_DIR

Each folder holds ``classify.json`` and ``probe.json``. The check passes when
the top label is the same and every score differs by at most 1e-6 or one int8
step of the model's output scale. Exit status 0 passes, 1 fails.
"""
from __future__ import annotations

import json
import pathlib
import sys


def main(x86_dir: str, arm_dir: str) -> int:
    x86, arm = pathlib.Path(x86_dir), pathlib.Path(arm_dir)
    cx, ca = (json.loads((d / "classify.json").read_text()) for d in (x86, arm))
    px, pa = (json.loads((d / "probe.json").read_text()) for d in (x86, arm))
    step = px["output_scale"]
    tolerance = max(1e-6, step * 1.0001)
    print(f"x86-64 : {px['machine']} python {px['python']} numpy {px['numpy']}")
    print(f"aarch64: {pa['machine']} python {pa['python']} numpy {pa['numpy']}")
    print(f"x86-64  classify: {cx['label']} {cx['score']:.8f} {cx['scores']}")
    print(f"aarch64 classify: {ca['label']} {ca['score']:.8f} {ca['scores']}")
    ok = cx["label"] == ca["label"]
    worst = 0.0
    for head, scores in cx["scores"].items():
        for label, score in scores.items():
            worst = max(worst, abs(score - ca["scores"][head][label]))
    print(f"classify: same label {ok}; largest score difference {worst:.3g} (int8 step {step:.6g})")
    ok &= worst <= tolerance
    print(f"resampled clip |x| sum: x86-64 {px['samples_abs_sum']:.6f}, aarch64 {pa['samples_abs_sum']:.6f}")
    for resolver in ("xnnpack", "builtin"):
        diffs = [abs(a - b) for wa, wb in zip(px[resolver], pa[resolver]) for a, b in zip(wa, wb)]
        same_shape = len(px[resolver]) == len(pa[resolver])
        largest = max(diffs) if diffs else float("inf")
        print(f"probe {resolver:8s}: {len(px[resolver])} windows, largest score difference {largest:.3g} "
              f"= {largest / step:.2f} int8 steps")
        ok &= same_shape and largest <= tolerance
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

"""Compare the x86-64 and aarch64 results of ``auricle classify --json`` and probe.py.

    python deploy/aarch64/compare.py X86_DIR ARM_DIR

Each folder holds ``classify.json`` and ``probe.json``. The promise it checks:

- XNNPACK (what ``Engine``, ``classify``, ``listen`` use by default): every
  score on aarch64 is bit-identical to x86-64 (so measured, Pi 4 and Pi 5
  CPUs, on the tiny fixture, the default recipe's model and the 12-class
  Speech Commands model).
- LiteRT's builtin kernels (``Engine(xnnpack=False)``): the same top label in
  every window, and every score within ``BUILTIN_STEPS`` int8 output steps.
  The builtin kernels have separate x86 (SSE/AVX) and ARM (NEON) optimized
  paths whose fixed-point rounding can differ in the last bit; on a model with
  several int8 layers those differences add up. The 12-class Speech Commands
  model showed 5 steps under qemu (Pi 4 and Pi 5 CPUs); a mismatched front end
  or a broken kernel moves scores by tens of steps or changes the label.

Exit status 0 passes, 1 fails.
"""
from __future__ import annotations

import json
import pathlib
import sys

BUILTIN_STEPS = 8  # int8 output steps allowed between ISAs for the builtin kernels (see above)


def _largest_difference(a: list, b: list) -> float:
    diffs = [abs(x - y) for wa, wb in zip(a, b) for x, y in zip(wa, wb)]
    return max(diffs) if diffs else float("inf")


def _same_top_label(a: list, b: list) -> bool:
    return len(a) == len(b) and all(max(range(len(wa)), key=wa.__getitem__) == max(range(len(wb)), key=wb.__getitem__)
                                    for wa, wb in zip(a, b))


def main(x86_dir: str, arm_dir: str) -> int:
    x86, arm = pathlib.Path(x86_dir), pathlib.Path(arm_dir)
    cx, ca = (json.loads((d / "classify.json").read_text()) for d in (x86, arm))
    px, pa = (json.loads((d / "probe.json").read_text()) for d in (x86, arm))
    step = px["output_scale"]
    print(f"x86-64 : {px['machine']} python {px['python']} numpy {px['numpy']}")
    print(f"aarch64: {pa['machine']} python {pa['python']} numpy {pa['numpy']}")
    print(f"x86-64  classify: {cx['label']} {cx['score']:.8f}")
    print(f"aarch64 classify: {ca['label']} {ca['score']:.8f}")
    print(f"resampled clip |x| sum: x86-64 {px['samples_abs_sum']:.6f}, aarch64 {pa['samples_abs_sum']:.6f}")
    checks = {"classify (XNNPACK): same label and bit-identical scores": cx["label"] == ca["label"] and cx["scores"] == ca["scores"]}
    xnn = _largest_difference(px["xnnpack"], pa["xnnpack"])
    checks[f"probe XNNPACK: {len(px['xnnpack'])} windows bit-identical (largest difference {xnn:.3g})"] = (
        len(px["xnnpack"]) == len(pa["xnnpack"]) and px["xnnpack"] == pa["xnnpack"])
    builtin = _largest_difference(px["builtin"], pa["builtin"])
    checks[f"probe builtin: same top label per window, {builtin / step:.2f} int8 steps <= {BUILTIN_STEPS}"] = (
        _same_top_label(px["builtin"], pa["builtin"]) and builtin <= BUILTIN_STEPS * step * 1.0001)
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    ok = all(checks.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

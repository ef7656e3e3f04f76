"""Distilled vs alone for the larger student (ds_cnn_s filters=32, blocks=4), per seed.

Inputs come from, for each seed:
  benchmarks/sc_train.py runs/sc/student32_s<seed> --model ds_cnn_s
      --params '{"filters": 32, "blocks": 4}' --epochs 40 --seed <seed>
  benchmarks/sc_distill_ablation.py --temperature 4 --alpha 0.7 --seed <seed>
      --student-params '{"filters": 32, "blocks": 4}'
then ``python benchmarks/sc_distill_summary.py --seeds 0 1 2 3 4`` writes
benchmarks/results/sc_distill_student32.json (benchmarks.results_io). A seed
without both runs is an error naming the missing files: nothing is written,
so a mean over fewer seeds than asked for is never reported.
"""
import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks import results_io  # noqa: E402

ROOT = pathlib.Path("runs/sc")


def run_files(seed: int) -> tuple[pathlib.Path, pathlib.Path]:
    return (ROOT / f"student32_s{seed}" / "metrics.json",
            ROOT / f"ablate_T4_a0.7_filters32_blocks4_s{seed}" / "01_distill" / "metrics.json")


def row(seed: int) -> dict:
    alone, dist = (json.loads(p.read_text()) for p in run_files(seed))
    return {"seed": seed, "alone_test": alone["accuracy"], "alone_val": alone["training"]["best_val_accuracy"],
            "distilled_test": dist["accuracy"], "distilled_val": dist["info"]["best_val_accuracy"],
            "distilled_int8_test": dist["artifacts"]["int8"]["test"]["accuracy"],
            "gain_points": 100 * (dist["accuracy"] - alone["accuracy"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="benchmarks/results/sc_distill_student32.json")
    args = parser.parse_args(argv)
    missing = [str(p) for s in args.seeds for p in run_files(s) if not p.is_file()]
    if missing:
        print(f"error: {len(missing)} run(s) missing for seeds {args.seeds}: {', '.join(missing)}; "
              "train them (see this script's doc) or pass --seeds with the seeds you have", file=sys.stderr)
        return 2
    rows = [row(s) for s in args.seeds]
    gains = [r["gain_points"] for r in rows]
    summary = {"student": {"name": "ds_cnn_s", "filters": 32, "blocks": 4}, "teacher": "runs/sc/teacher (ds_cnn_s 64)",
               "temperature": 4, "alpha": 0.7, "per_seed": rows,
               "gain_points": {"mean": float(np.mean(gains)), "std": float(np.std(gains)),
                               "min": float(np.min(gains)), "max": float(np.max(gains)), "n": len(gains)}}
    results_io.write(args.out, summary, seeds=args.seeds)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

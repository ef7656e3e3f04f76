"""Distillation settings on the cached Speech Commands features: one run per (T, alpha, seed).

``PYTHONPATH=. nice -n 10 python benchmarks/sc_distill_ablation.py --temperature 2 --alpha 0.5 --seed 0``
writes ``runs/sc/ablate_T<T>_a<alpha>_s<seed>/01_distill`` (val and test accuracy in its metrics.json).
"""
import argparse
import json
import pathlib

import quantize  # noqa: F401
from quantize.compress import stages as compress

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--temperature", type=float, required=True)
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--teacher", default="runs/sc/teacher")
parser.add_argument("--student-params", default='{"filters": 24, "blocks": 3}', help="ds_cnn_s params, JSON")
args = parser.parse_args()
params = json.loads(args.student_params)
tag = "_".join(f"{k}{v}" for k, v in params.items())
out = pathlib.Path(f"runs/sc/ablate_T{args.temperature:g}_a{args.alpha:g}_{tag}_s{args.seed}")
student = {"name": "ds_cnn_s", "params": params}
written = compress.apply(args.teacher, [{"distill": {"student": student, "temperature": args.temperature,
                                                     "alpha": args.alpha, "epochs": args.epochs, "seed": args.seed}}],
                         out_dir=out, verbose=2)
m = json.loads((written[0] / "metrics.json").read_text())
print(json.dumps({"T": args.temperature, "alpha": args.alpha, "seed": args.seed, "val": m["info"]["best_val_accuracy"],
                  "test": m["accuracy"]}))

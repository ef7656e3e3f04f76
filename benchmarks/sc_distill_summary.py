"""Distilled vs alone for the larger student (ds_cnn_s filters=32, blocks=4), per seed.

Inputs come from:
  benchmarks/sc_train.py runs/sc/student32_s<seed> --model ds_cnn_s --params '{"filters": 32, "blocks": 4}' --epochs 40 --seed <seed>
  benchmarks/sc_distill_ablation.py --temperature 4 --alpha 0.7 --seed <seed> --student-params '{"filters": 32, "blocks": 4}'
Writes benchmarks/results/compress_speech_commands/distill_student32.json.
"""
import json
import pathlib

import numpy as np

root = pathlib.Path("runs/sc")
rows = []
for seed in range(5):
    alone = root / f"student32_s{seed}" / "metrics.json"
    dist = root / f"ablate_T4_a0.7_filters32_blocks4_s{seed}" / "01_distill" / "metrics.json"
    if alone.is_file() and dist.is_file():
        a, d = json.loads(alone.read_text()), json.loads(dist.read_text())
        rows.append({"seed": seed, "alone_test": a["accuracy"], "alone_val": a["training"]["best_val_accuracy"],
                     "distilled_test": d["accuracy"], "distilled_val": d["info"]["best_val_accuracy"],
                     "distilled_int8_test": d["artifacts"]["int8"]["test"]["accuracy"],
                     "gain_points": 100 * (d["accuracy"] - a["accuracy"])})
summary = {"student": {"name": "ds_cnn_s", "filters": 32, "blocks": 4}, "teacher": "runs/sc/teacher (ds_cnn_s 64)",
           "temperature": 4, "alpha": 0.7, "seeds": rows,
           "mean_gain_points": float(np.mean([r["gain_points"] for r in rows])) if rows else None}
out = pathlib.Path("benchmarks/results/compress_speech_commands/distill_student32.json")
out.write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))

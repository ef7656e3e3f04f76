"""Train one recipe with several seeds; write held-out accuracy per seed and its spread.

    AURICLE_DATA=/work/shared/data nice python benchmarks/recipe_seeds.py fsdd \\
        --seeds 0 1 2 --out benchmarks/results/fsdd.json

Each seed is a full ``auricle train`` run (``quantize.pipeline.run``) of the
recipe with ``seed`` replaced: it changes the train/val split among the
training speakers, augmentation, initialisation and shuffling; the test
speakers come from the recipe. Run folders go to ``--runs`` (default
``runs/seeds/<recipe>_s<seed>``); a seed whose folder already holds
``metrics.json`` is read, not retrained, so an interrupted run resumes; the
time recorded is the sum of the runs' own times, whether resumed or not.
Every requested seed must end with a metrics file, or the script fails and
writes nothing: a summary over fewer seeds than asked is not written.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import results_io  # noqa: E402


def spread(values) -> dict:
    """mean, std (population), min, max of a list of figures; ``n`` how many."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "n": int(a.size)}


def seed_figures(metrics: dict) -> dict:
    """The held-out figures of one run's metrics.json: float and per-export-mode test accuracy, size."""
    out = {"float_accuracy": metrics["float"]["test"]["accuracy"],
           "test_clips": metrics["float"]["test"].get("examples")}
    for mode, info in metrics["artifacts"].items():
        out[f"{mode}_accuracy"] = info["test"]["accuracy"]
        out[f"{mode}_model_bytes"] = info["model_bytes"]
    if metrics.get("teacher"):  # a run distilled from the speech-embedding teacher (quantize.transfer.teach)
        out["teacher_accuracy"] = metrics["teacher"]["test"]["accuracy"]
        if metrics.get("scratch") and "int8" in metrics["artifacts"]:
            out["scratch_int8_accuracy"] = metrics["scratch"]["int8_test"]["accuracy"]
            out["distillation_gain_points"] = 100 * (out["int8_accuracy"] - out["scratch_int8_accuracy"])
    out["model"] = metrics.get("model", {}).get("name")
    out["run_s"] = round(metrics["timings_s"]["total_s"], 1)
    return out


def train_seed(recipe, seed: int, run_dir: pathlib.Path) -> dict:
    from quantize import pipeline

    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        pipeline.run(recipe.model_copy(update={"seed": seed}), run_dir, force=run_dir.exists(), verbose=2)
    return json.loads(metrics_file.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="recipe file or built-in name")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", default="runs/seeds", help="folder for the run folders")
    parser.add_argument("--out", required=True, help="JSON to write (benchmarks/results/...)")
    args = parser.parse_args(argv)
    from quantize import recipe as qrecipe

    recipe = qrecipe.load(args.recipe)
    per_seed = {}
    for seed in args.seeds:
        run_dir = pathlib.Path(args.runs) / f"{recipe.name}_s{seed}"
        per_seed[seed] = seed_figures(train_seed(recipe, seed, run_dir))
        print(f"seed {seed}: {json.dumps(per_seed[seed])}", flush=True)
    missing = [s for s in args.seeds if s not in per_seed]
    if missing:  # cannot happen unless a run raised; kept explicit so a partial summary is never written
        raise SystemExit(f"seeds {missing} have no metrics; nothing written")
    keys = [k for k in per_seed[args.seeds[0]] if k.endswith(("_accuracy", "_points"))]
    results = {
        "recipe": recipe.name,
        "model": per_seed[args.seeds[0]]["model"],
        "test_speakers": list(recipe.data.test_speakers or []),
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "summary": {k: spread([per_seed[s][k] for s in args.seeds]) for k in keys},
    }
    for k in [k for k in per_seed[args.seeds[0]] if k.endswith("_model_bytes")]:
        results["summary"][k] = per_seed[args.seeds[0]][k]
    path = results_io.write(args.out, results, seeds=args.seeds, elapsed_s=sum(v["run_s"] for v in per_seed.values()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""micro_speech's four classes with the speech-embedding teacher, over seeds, beside micro_speech.

    AURICLE_DATA=/work/shared/data python benchmarks/teacher_micro_speech.py \\
        --seeds 0 1 2 --runs runs/ms4 --out benchmarks/results/teacher_micro_speech.json

Each seed is one ``auricle train micro_speech_4class`` run (trained here, or
read back when its folder already holds ``metrics.json``). The seed also draws
the speaker split, so each run is scored by ``benchmarks/peers.py`` on the
clips of its own test speakers, beside micro_speech on the same clips:
balanced accuracy (mean recall of yes, no, _unknown_, _silence_) of the
distilled int8 student, the same student trained without the teacher, and the
teacher's int8 head (``model_embedding_int8.tflite``), with bytes and
per-inference latency against micro_speech's (LiteRT + XNNPACK, one thread).
The summary is the mean ± spread over seeds and the goal of issue 14:
balanced accuracy >= 0.95 at <= 20 KB int8 and <= 1.5x micro_speech's latency.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import peers, results_io  # noqa: E402
from benchmarks.peer_report import GOAL  # noqa: E402
from benchmarks.recipe_seeds import spread, train_seed  # noqa: E402
from sdk.errors import AuricleError, ConfigError  # noqa: E402

ARTIFACTS = {  # entry name -> file in the run folder
    "distilled_int8": "model_int8.tflite",
    "scratch_int8": "scratch/model_int8.tflite",
    "teacher_int8": "model_embedding_int8.tflite",
}
FIGURES = ("balanced_accuracy", "accuracy")


def score_run(run_dir: pathlib.Path, args) -> dict:
    """peers.py on one run's own held-out speakers: micro_speech and the run's three artifacts."""
    models = [f"{name}={run_dir / file}" for name, file in ARTIFACTS.items() if (run_dir / file).is_file()]
    report = peers.run(argparse.Namespace(
        data=args.data, peers_dir=args.peers_dir, heldout_recipe=str(run_dir / "recipe.yaml"), model=models,
        runs=args.timing_runs, repeats=1, frontend_seconds=5, limit=0))
    if "micro_speech" not in report["models"]:
        raise ConfigError(f"{run_dir}: micro_speech could not be scored beside it: {report['skipped']['micro_speech']}")
    out = {"run": run_dir.name, "heldout": report["task"]["sets"]["heldout"], "models": {}}
    peer_ms = report["models"]["micro_speech"]["latency"]["litert_xnnpack_1thread"]["median_ms"]
    for name, entry in report["models"].items():
        if entry.get("scores") is None:
            continue  # mltk: size and latency only
        held = entry["scores"]["heldout"]
        ms = entry["latency"]["litert_xnnpack_1thread"]["median_ms"]
        out["models"][name] = {
            **{k: held[k] for k in FIGURES}, "recall": held["recall"],
            "model_bytes": entry["size"]["model_bytes"], "invoke_ms": ms, "latency_ratio": ms / peer_ms,
            "heldout_overlap": entry.get("heldout_overlap"),
        }
    return out


def summarise(runs: list[dict]) -> dict:
    names = runs[0]["models"]
    summary = {name: {k: spread([r["models"][name][k] for r in runs]) for k in (*FIGURES, "latency_ratio")}
               for name in names}
    for name in names:
        summary[name]["model_bytes"] = max(r["models"][name]["model_bytes"] for r in runs)
    if "scratch_int8" in names:
        summary["gain_points"] = spread([100 * (r["models"]["distilled_int8"]["balanced_accuracy"]
                                                - r["models"]["scratch_int8"]["balanced_accuracy"]) for r in runs])
    student = summary["distilled_int8"]
    summary["goal"] = {**GOAL, "met": bool(
        student["balanced_accuracy"]["mean"] >= GOAL["balanced_accuracy_min"]
        and student["model_bytes"] <= GOAL["model_bytes_max"]
        and student["latency_ratio"]["max"] <= GOAL["latency_ratio_max"])}
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="micro_speech_4class", help="recipe file or built-in name")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", default="runs/ms4", help="folder for the run folders")
    parser.add_argument("--data", default=str(peers.DEFAULT_DATA))
    parser.add_argument("--peers-dir", default=str(peers.DEFAULT_PEERS))
    parser.add_argument("--timing-runs", type=int, default=300, help="timed inferences per model")
    parser.add_argument("--out", required=True, help="JSON to write (benchmarks/results/...)")
    args = parser.parse_args(argv)
    from quantize import recipe as qrecipe

    recipe = qrecipe.load(args.recipe)
    start = time.perf_counter()
    runs, train_s = [], 0.0
    for seed in args.seeds:
        run_dir = pathlib.Path(args.runs) / f"{recipe.name}_s{seed}"
        train_s += train_seed(recipe, seed, run_dir)["timings_s"]["total_s"]
        try:
            runs.append(score_run(run_dir, args))
        except AuricleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        figures = {k: round(v["balanced_accuracy"], 4) for k, v in runs[-1]["models"].items()}
        print(f"seed {seed}: balanced accuracy on its held-out speakers {figures}", flush=True)
    results = {"recipe": recipe.name, "summary": summarise(runs), "runs": runs,
               "train_minutes": round(train_s / 60, 1)}
    path = results_io.write(args.out, results, seeds=args.seeds, elapsed_s=time.perf_counter() - start)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

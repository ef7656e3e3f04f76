"""Train wake-word models from text with the example recipe, one per phrase and seed; write what each cost.

    python benchmarks/wakeword_train.py --phrase computer --phrase "smart mirror" --seeds 0 1 2 \\
        --runs runs/wakeword --out benchmarks/results/wakeword_training.json [--jobs 2]

Each run is ``quantize/recipes/wakeword.yaml`` with ``wakeword.phrases`` set to
the one phrase and ``seed`` to the seed (the TTS voices' pitch, speed and gain,
the negative windows, initialisation), trained by ``auricle train``'s own
``quantize.pipeline.run`` into ``RUNS/<phrase id>_s<seed>``. The JSON holds,
per run: wall-clock minutes from text to artifacts, each artifact's bytes
(``embedding_int8``: the head alone; the speech embedding it runs on adds
2.4 MB), the mining rounds of the student and of the teacher's head, and what
calibration chose for each artifact. ``benchmarks/wakeword.py``
then scores the artifacts on held-out audio.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from results_io import write  # noqa: E402

RECIPE = pathlib.Path(__file__).resolve().parents[1] / "quantize" / "recipes" / "wakeword.yaml"


def train(phrase: str, seed: int, runs: pathlib.Path, *, recipe: pathlib.Path = RECIPE, force: bool = False) -> dict:
    import yaml

    from quantize import pipeline
    from quantize import recipe as qrecipe
    from quantize.wakeword.settings import phrase_id

    values = yaml.safe_load(recipe.read_text())
    values["wakeword"]["phrases"] = [phrase]
    values["name"], values["seed"] = phrase_id(phrase), seed
    loaded = qrecipe.load(values).model_copy(update={"source": str(recipe)})
    run_dir = runs / f"{phrase_id(phrase)}_s{seed}"
    if force or not (run_dir / "metrics.json").is_file():
        pipeline.run(loaded, run_dir, force=True, verbose=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    artifacts = metrics["artifacts"]
    return {
        "phrase": phrase, "seed": seed, "run": str(run_dir),
        "minutes": round(metrics["timings_s"]["total_s"] / 60, 1),
        "timings_s": metrics["timings_s"],
        "bytes": {mode: a["model_bytes"] for mode, a in artifacts.items()},
        "mining": metrics["wakeword"]["mining"],
        "teacher_mining": (metrics.get("teacher") or {}).get("mining_rounds"),
        "calibration": metrics["wakeword"]["calibration"],
        "teacher_test_accuracy": (metrics.get("teacher") or {}).get("test", {}).get("accuracy"),
        "student_test_accuracy": artifacts.get("streaming_int8", {}).get("test", {}).get("accuracy"),
    }


def _train_job(job: tuple) -> dict:
    phrase, seed, runs, force = job
    return train(phrase, seed, runs, force=force)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phrase", action="append", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", type=pathlib.Path, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in its own process")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    jobs = [(p, s) for p in args.phrase for s in args.seeds]
    if args.jobs > 1:  # spawned, not forked: TensorFlow does not survive a fork
        import concurrent.futures
        import multiprocessing

        with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_train_job, [(p, s, args.runs, args.force) for p, s in jobs]))
    else:
        rows = [train(p, s, args.runs, force=args.force) for p, s in jobs]
    for r in rows:
        cal = r["calibration"].get("streaming_int8", {})
        print(f"{r['phrase']:14s} seed {r['seed']}: {r['minutes']:5.1f} min, {r['bytes'].get('streaming_int8', 0)} B, "
              f"calibrated threshold {cal.get('detection', {}).get('threshold')}, "
              f"{cal.get('false_accepts_per_hour', float('nan')):.2f} FA/h, miss {cal.get('miss_rate', float('nan')):.1%}")
    write(args.out, {"runs": rows, "recipe": str(RECIPE.relative_to(RECIPE.parents[2]))}, seeds=args.seeds,
          elapsed_s=time.perf_counter() - started)


if __name__ == "__main__":
    main()

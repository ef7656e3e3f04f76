"""Teacher, distilled student and student from scratch of one run, on real recorded speech.

For a run trained with a ``teacher:`` section (``auricle train default``),
scores on a Speech Commands style folder the teacher head (speech embedding),
its int8 artifact (``model_embedding_int8.tflite``, through its own front
end, as a user runs it), the distilled int8 student (``model_int8.tflite``)
and the int8 student trained without the teacher (``scratch/model_int8.tflite``). Words the model
does not know count as ``_unknown_``. For the TTS-only default recipe every
clip is an unseen, real speaker.

    AURICLE_DATA=/work/shared/data python benchmarks/teacher_real_speech.py runs/default [runs/default_s1 ...] \\
        --out benchmarks/results/teacher_default_real_speech.json
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import results_io  # noqa: E402
from benchmarks.recipe_seeds import spread  # noqa: E402
from quantize.data.sources import from_speech_commands  # noqa: E402
from quantize.data.windows import load_features  # noqa: E402
from quantize.recipe import load as load_recipe  # noqa: E402
from quantize.export.report import classification_metrics  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.engine import Engine  # noqa: E402

SC_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def score_run(run_dir: pathlib.Path, data_root: str) -> dict:
    import tf_keras as keras

    from quantize.transfer.teacher import SpeechEmbedding, in_context

    bundle = Bundle.load(run_dir / "model_int8.tflite")
    labels = list(bundle.labels)
    keywords = [w for w in labels if w in SC_WORDS]
    clips = from_speech_commands(data_root, keywords=keywords, include_unknown="_unknown_" in labels,
                                 include_silence="_silence_" in labels)
    feats = load_features(clips, bundle.frontend, labels=labels, keep_audio=True)
    result = {"run": run_dir.name, "labels": labels, "clips": len(clips),
              "speakers": len({c.speaker for c in clips})}
    result["distilled_int8"] = classification_metrics(feats.y, Engine(bundle).predict_batch(feats.x)[0], labels)
    scratch = run_dir / "scratch" / "model_int8.tflite"
    if scratch.is_file():
        result["scratch_int8"] = classification_metrics(feats.y, Engine(Bundle.load(scratch)).predict_batch(feats.x)[0], labels)
    artifact = run_dir / "model_embedding_int8.tflite"
    if artifact.is_file():
        on_embedding = Bundle.load(artifact)
        e_feats = load_features(clips, on_embedding.frontend, labels=labels)
        result["teacher_int8"] = classification_metrics(
            e_feats.y, Engine(on_embedding).predict_batch(e_feats.x)[0], labels)
    teacher_metrics = run_dir / "teacher" / "metrics.json"
    hint = json.loads(teacher_metrics.read_text()).get("hint") if teacher_metrics.is_file() else None
    run_metrics = run_dir / "metrics.json"
    if run_metrics.is_file():  # wall time of the whole `auricle train`, as the user waited for it
        result["train_s"] = round(json.loads(run_metrics.read_text())["timings_s"]["total_s"], 1)
    if hint:
        result["hint"] = hint  # the student's trunk pretrained on the embedding (teacher.hint_epochs)
    head = run_dir / "teacher" / "head.keras"
    if head.is_file():
        context_s = load_recipe(run_dir / "recipe.yaml").teacher.context_s
        emb = SpeechEmbedding().embed(in_context(feats.audio, sample_rate=bundle.frontend.sample_rate, context_s=context_s))
        scores = keras.models.load_model(head, compile=False).predict(emb, verbose=0)
        result["teacher"] = classification_metrics(feats.y, scores, labels)
    return result


def _summary(runs: list[dict], key: str) -> dict | None:
    values = [r[key]["accuracy"] for r in runs if key in r]
    return spread(values) if values else None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders (one per seed)")
    default_root = pathlib.Path(os.environ.get("AURICLE_DATA", "../shared/data")) / "speech_commands_v2_test"
    parser.add_argument("--data", default=str(default_root), help="Speech Commands style folder")
    parser.add_argument("--out", required=True, help="JSON file for the result")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = []
    for run in args.runs:
        runs.append(score_run(pathlib.Path(run), args.data))
        r = runs[-1]
        print(f"{run}: teacher {r.get('teacher', {}).get('accuracy', float('nan')):.4f}  "
              f"scratch {r.get('scratch_int8', {}).get('accuracy', float('nan')):.4f}  "
              f"distilled {r['distilled_int8']['accuracy']:.4f}", flush=True)
    seeds = []
    for run in args.runs:
        seeds.append(load_recipe(pathlib.Path(run) / "recipe.yaml").seed)
    summary = {key: _summary(runs, key) for key in ("teacher", "teacher_int8", "scratch_int8", "distilled_int8")}
    if summary["scratch_int8"] and summary["distilled_int8"]:
        gains = [r["distilled_int8"]["accuracy"] - r["scratch_int8"]["accuracy"] for r in runs if "scratch_int8" in r]
        summary["gain_points"] = spread(100 * np.asarray(gains))
    times = [r["train_s"] / 60 for r in runs if "train_s" in r]
    if times:
        summary["train_minutes"] = spread(times)
    results_io.write(args.out, {"data": args.data, "summary": summary, "runs": runs}, seeds=seeds,
                     elapsed_s=time.perf_counter() - start)


if __name__ == "__main__":
    main()

"""Speech / music / noise with the speech-embedding teacher vs today's backbone recipe.

Data: ``quantize.data.tasks.sound_clips``, 1-s windows, train / test disjoint by
file, actor, time span, and (``music_open``) by track; each seed draws a
different track split of ``music_open``. Per seed:

- today: ``quantize.transfer.audio_tasks.run_sound`` (backbone, full fine-tune, int8);
- teacher: ``zoo.embedding_head`` on the speech embeddings of the windows;
- distilled: a zoo student on Auricle features with the teacher's soft targets.

Teacher and student keep the epoch that scores best on a validation part of
the training files (15 %, split by file / actor / track). Reported: accuracy,
unweighted average recall, per-class recall, and music recall on the
``music_open`` test tracks alone.

    nice python benchmarks/teacher_sound.py --out benchmarks/results/teacher_sound.json
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import results_io  # noqa: E402
from quantize.data import data_root, tasks  # noqa: E402
from quantize.transfer.audio_tasks import classification_metrics, run_sound  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.data.balance import split_by_speaker  # noqa: E402
from quantize.train.fit import Arrays  # noqa: E402
from quantize.transfer.teacher_tasks import distil, features_and_embeddings, train_head, transfer_recipe  # noqa: E402


def scores(predicted, y, music_open_mask, labels) -> dict:
    m = classification_metrics(y, predicted, labels)
    music = labels.index("music")
    m["music_open_test_recall"] = round(float(np.mean(predicted[music_open_mask] == music)), 4)
    m.pop("confusion")
    return m


def summary(runs, model):
    out = {}
    for key in ("accuracy", "uar", "music_open_test_recall"):
        values = [r[model][key] for r in runs]
        out[key] = {"mean": round(float(np.mean(values)), 4), "spread_std": round(float(np.std(values)), 4), "seeds": values}
    for label in tasks.SOUND_LABELS:
        values = [r[model]["per_class_recall"][label] for r in runs]
        out[f"recall_{label}"] = {"mean": round(float(np.mean(values)), 4), "spread_std": round(float(np.std(values)), 4)}
    return out


def one_seed(seed, root, cache, args, labels):
    clips = tasks.sound_clips(root, music_seed=seed)
    parts = split_by_speaker(clips["train"], fractions={"fit": 0.85, "val": 0.15}, seed=seed)
    recipe = transfer_recipe(labels, model=args.model, epochs=args.epochs, seed=seed,
                             teacher={"context_s": 1.25, "temperature": 2.0, "alpha": 0.7})
    fe = recipe.frontend_config()
    x, y, e = features_and_embeddings(parts["fit"], fe, labels, augment=AugmentConfig(noise_prob=0.3), seed=seed,
                                      cache_dir=cache, tag="sound-fit")
    xv, yv, ev = features_and_embeddings(parts["val"], fe, labels, cache_dir=cache, tag="sound-val")
    xt, yt, et = features_and_embeddings(clips["test"], fe, labels, cache_dir=cache, tag="sound-test")
    music_open = np.array([c.source == "music_open" for c in clips["test"]])
    run = {"seed": seed, "fit_windows": int(len(y)), "val_windows": int(len(yv)), "test_windows": int(len(yt)),
           "music_open_test_tracks": sorted({c.speaker for c in clips["test"] if c.source == "music_open"})}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        metrics, bundle = run_sound(pathlib.Path(tmp), root=root, seed=seed, music_seed=seed)
        from sdk.engine import Engine

        today = Engine(bundle).predict_batch(xt)[0].argmax(1)
        run["today_int8"] = scores(today, yt, music_open, labels) | {"seconds": round(time.time() - t, 1)}
        t = time.time()
        head = train_head(recipe, e, y, ev, yv, pathlib.Path(tmp) / "head")
        run["teacher"] = scores(head.predict(et, verbose=0).argmax(1), yt, music_open, labels)
        run["teacher"]["seconds"] = round(time.time() - t, 1)
        t = time.time()
        student = distil(recipe, head, Arrays(x, y, xv, yv), e, pathlib.Path(tmp) / "student")
        run["distilled"] = scores(student.predict(xt, verbose=0).argmax(1), yt, music_open, labels)
        run["distilled"] |= {"seconds": round(time.time() - t, 1), "params": int(student.count_params())}
    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/teacher_sound.json")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="ds_cnn_s")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", default=None)
    parser.add_argument("--cache", default="/work/runs/cache/teacher")
    args = parser.parse_args(argv)
    start = time.time()
    root = data_root(args.data, must_exist=True)
    labels = list(tasks.SOUND_LABELS)
    runs = []
    for seed in range(args.seeds):  # written after every seed: a cut-short run still leaves its figures
        runs.append(one_seed(seed, root, pathlib.Path(args.cache), args, labels))
        print({k: (v["uar"], v["music_open_test_recall"]) for k, v in runs[-1].items() if isinstance(v, dict)}, flush=True)
        results = {"task": "speech / music / noise, 1-s windows, test files / actors / music_open tracks unseen",
                   "student": args.model, "epochs": args.epochs, "runs": runs,
                   "summary": {m: summary(runs, m) for m in ("today_int8", "teacher", "distilled")}}
        results_io.write(args.out, results, seeds=list(range(len(runs))), elapsed_s=time.time() - start)
    print(results["summary"])


if __name__ == "__main__":
    main()

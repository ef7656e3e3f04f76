"""Few-shot keywords with the speech-embedding teacher: teacher head, distilled student, scratch student.

10 Speech Commands keywords, ``--shots`` real clips per word drawn from the
``pool`` speakers of speech_commands_v2_test, scored on its ``eval`` speakers
(disjoint; ``quantize.data.tasks.speech_commands``). Per draw:

- teacher: ``zoo.embedding_head`` on the speech embeddings of the shots
  (``--copies`` augmented copies each);
- distilled: a zoo student (``--model``) on Auricle features, trained by
  ``train.fit`` on the same copies plus unlabelled real audio (Speech Commands
  EN sentences, Arabic command words, RAVDESS, MUSAN, music_open; never
  speech_commands_v2_test), every row's target softened from the teacher;
- scratch: the same student on the shots' copies alone, hard labels.

Validation (which epoch to keep) uses other augmented copies of the shots
only: a few-shot user has no more labelled audio. Embeddings and features are
cached in ``--cache`` (outside the repository).

    nice python benchmarks/teacher_fewshot.py --out benchmarks/results/teacher_fewshot.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import results_io  # noqa: E402
from quantize.data import data_root, tasks  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.train.fit import Arrays  # noqa: E402
from quantize.transfer.teacher_tasks import distil, features_and_embeddings, scratch, train_head, transfer_recipe  # noqa: E402

UNLABELLED = (("speech_commands_en", 1500), ("arabic_speech_commands", 1200), ("ravdess_speech", 400),
              ("musan_subset", 300), ("music_open", 300))


def unlabelled(recipe, cache: pathlib.Path, seed: int = 0):
    """Features and embeddings of the unlabelled windows, cached (they do not depend on the draw)."""
    from quantize.transfer.teach import Embedder, unlabelled_windows

    key = json.dumps([recipe.teacher.context_s, seed, [u.model_dump() for u in recipe.teacher.unlabelled]])
    path = cache / f"unlabelled-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as f:
            return f["x"], f["e"]
    x, e = unlabelled_windows(recipe, Embedder(recipe), seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, e=e)
    return x, e


def accuracy(model, x, y) -> float:
    return round(float(np.mean(model.predict(x, batch_size=512, verbose=0).argmax(1) == y)), 4)


def summary(runs, key):
    values = [r[key] for r in runs]
    return {"mean": round(float(np.mean(values)), 4), "spread_std": round(float(np.std(values)), 4),
            "min": min(values), "max": max(values), "draws": values}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/teacher_fewshot.json")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--model", default="ds_cnn_s")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--unlabelled-scale", type=float, default=1.0, help="fraction of the unlabelled windows")
    parser.add_argument("--tts", type=int, default=0,
                        help="also this many synthetic clips per word (quantize.data.tts), labelled and teacher-scored")
    parser.add_argument("--data", default=None)
    parser.add_argument("--cache", default="/work/runs/cache/teacher")
    args = parser.parse_args(argv)
    start = time.time()
    root = data_root(args.data, must_exist=True)
    cache = pathlib.Path(args.cache)
    labels = list(tasks.SC_KEYWORDS)
    sources = [{"path": str(root / name), "max_windows": max(1, int(n * args.unlabelled_scale))}
               for name, n in UNLABELLED]
    teacher = {"context_s": 1.25, "unlabelled": sources, "temperature": 2.0, "alpha": 0.7}
    base = transfer_recipe(labels, model=args.model, epochs=args.epochs, teacher=teacher,
                           train={"early_stopping_patience": 0})
    fe = base.frontend_config()
    split = tasks.speech_commands(root)
    x_eval, y_eval, e_eval = features_and_embeddings(split["eval"], fe, labels, cache_dir=cache, tag="sc-eval")
    x_u, e_u = unlabelled(base, cache)
    if args.tts:
        from quantize.data import tts

        spoken = tts.synthesize(labels, cache / "tts", variants_per_word=args.tts, seed=0, clip_s=fe.clip_s)
        x_s, y_s, e_s = features_and_embeddings(list(spoken), fe, labels, augment=AugmentConfig(), copies=2,
                                                cache_dir=cache, tag="sc-tts")
    runs = []
    for draw in range(args.draws):
        recipe = base.model_copy(update={"seed": draw})
        shots = tasks.few_shot(split["pool"], shots=args.shots, seed=draw)
        x, y, e = features_and_embeddings(shots, fe, labels, augment=AugmentConfig(), copies=args.copies, seed=draw,
                                          cache_dir=cache, tag="sc-fewshot")
        xv, yv, ev = features_and_embeddings(shots, fe, labels, augment=AugmentConfig(noise_prob=1.0, snr_db=(0.0, 15.0)),
                                             copies=2, seed=1000 + draw, cache_dir=cache, tag="sc-fewshot-val")
        with tempfile.TemporaryDirectory() as tmp:
            t = time.time()
            head = train_head(recipe, e, y, ev, yv, pathlib.Path(tmp) / "head")
            run = {"draw": draw, "teacher": accuracy(head, e_eval, y_eval), "teacher_s": round(time.time() - t, 1)}
            t = time.time()
            xs, ys, es = [x, x_u], [y, np.full(len(x_u), -1, y.dtype)], [e, e_u]
            if args.tts:  # synthetic speech of the words: labelled by its text, scored by the teacher too
                xs, ys, es = xs + [x_s], ys + [y_s], es + [e_s]
            arrays = Arrays(np.concatenate(xs), np.concatenate(ys), xv, yv)
            student = distil(recipe, head, arrays, np.concatenate(es), pathlib.Path(tmp) / "student")
            run.update(distilled=accuracy(student, x_eval, y_eval), distilled_s=round(time.time() - t, 1))
            t = time.time()
            control = scratch(recipe, Arrays(x, y, xv, yv), pathlib.Path(tmp) / "scratch")
            run.update(scratch=accuracy(control, x_eval, y_eval), scratch_s=round(time.time() - t, 1))
        runs.append(run)
        print(run, flush=True)
        results = {  # written after every draw: a cut-short run still leaves its figures
            "task": f"{len(labels)} Speech Commands keywords, {args.shots} real clips per word (pool speakers), "
                    "scored on other speakers (eval)",
            "shots": args.shots, "copies": args.copies, "tts_clips_per_word": args.tts, "student": args.model,
            "student_params": int(student.count_params()), "epochs": args.epochs,
            "eval_clips": int(len(y_eval)), "eval_speakers": len({c.speaker for c in split["eval"]}),
            "unlabelled_windows": int(len(x_u)), "unlabelled_sources": [s["path"].split("/")[-1] for s in sources],
            "teacher": teacher | {"unlabelled": None}, "runs": runs,
            "summary": {k: summary(runs, k) for k in ("teacher", "distilled", "scratch")},
        }
        results_io.write(args.out, results, seeds=list(range(len(runs))), elapsed_s=time.time() - start)
    print(results["summary"])


if __name__ == "__main__":
    main()

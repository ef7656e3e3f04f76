"""Speech emotion (RAVDESS, 8 classes) with the speech-embedding teacher vs today's backbone recipe.

Actors 1-4 train, actors 5-6 test (``quantize.data.tasks``); scores are per clip.
Per seed:

- today: the backbone fully fine-tuned on 1-s windows, a clip's score the mean
  of its windows (``quantize.transfer.audio_tasks.run_emotion``'s model, float Keras);
- teacher: ``zoo.embedding_head`` on the speech embeddings of the whole clip
  (centred in 4 s: 46 embeddings), pooled over time by mean and by max;
- distilled: a zoo student on 1-s windows whose soft targets are the
  (mean-pooled) teacher's probabilities for the window's clip.

Teacher and student keep the epoch that scores best on noisier copies of the
training clips (there are only four training actors).

    nice python benchmarks/teacher_emotion.py --out benchmarks/results/teacher_emotion.json
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
from quantize.transfer.audio_tasks import _clip_scores, classification_metrics  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.data.clips import Clip  # noqa: E402
from quantize.train.fit import Arrays  # noqa: E402
from quantize.transfer.teacher_tasks import distil, features_and_embeddings, train_head, transfer_recipe  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402

CLIP_S = 4.0  # RAVDESS clips are 3-4 s; centred in 4 s the teacher hears all of each
NOISY = AugmentConfig(noise_prob=1.0, snr_db=(0.0, 15.0))


def whole_clips(root, actors) -> list[Clip]:
    return [Clip(r["path"], r["emotion"], r["path"]) for r in tasks.ravdess(root) if r["actor"] in actors]


def clip_metrics(scores, groups, truth, labels) -> dict:
    files, clip_scores = _clip_scores(scores, groups)
    m = classification_metrics([truth[f] for f in files], clip_scores.argmax(1), labels)
    m.pop("confusion")
    return m


def one_seed(seed, root, cache, args, labels):
    from quantize.transfer.backbone import load_backbone
    from quantize.transfer.finetune import fine_tune

    fe = FrontEndConfig()
    fe_clip = FrontEndConfig(clip_s=CLIP_S)
    train, test = whole_clips(root, tasks.EMOTION_TRAIN_ACTORS), whole_clips(root, tasks.EMOTION_TEST_ACTORS)
    _, y_c, e_c = features_and_embeddings(train, fe_clip, labels, context_s=None, augment=AugmentConfig(noise_prob=0.3),
                                          copies=2, seed=seed, cache_dir=cache, tag="emotion-clips")
    _, yv_c, ev_c = features_and_embeddings(train, fe_clip, labels, context_s=None, augment=NOISY, seed=1000 + seed,
                                            cache_dir=cache, tag="emotion-clips-val")
    _, _, e_clean = features_and_embeddings(train, fe_clip, labels, context_s=None, cache_dir=cache, tag="emotion-clips")
    _, yt_c, et_c = features_and_embeddings(test, fe_clip, labels, context_s=None, cache_dir=cache, tag="emotion-clips")
    windows = tasks.emotion_clips(root)
    x, y = tasks.cached_features(windows["train"], fe, labels, augment=AugmentConfig(noise_prob=0.3), seed=seed,
                                 tag="emotion-train")
    xv, yv = tasks.cached_features(windows["train"], fe, labels, augment=NOISY, seed=1000 + seed, tag="emotion-val")
    xt, _ = tasks.cached_features(windows["test"], fe, labels, tag="emotion-test")
    truth = {c.speaker: labels.index(c.label) for c in windows["test"]}
    groups = [c.speaker for c in windows["test"]]
    run = {"seed": seed, "train_clips": len(train), "test_clips": len(test), "train_windows": int(len(y))}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        model, _ = fine_tune(load_backbone(), x, y, len(labels), mode="full", epochs=20, lr=3e-3, full_lr_scale=1 / 3,
                             seed=seed)
        run["today_float"] = clip_metrics(model.predict(xt, verbose=0), groups, truth, labels)
        run["today_float"]["seconds"] = round(time.time() - t, 1)
        heads = {}
        for pooling in ("mean", "max"):
            t = time.time()
            recipe = transfer_recipe(labels, model=args.model, epochs=args.epochs, seed=seed,
                                     teacher={"head": {"pooling": pooling}, "epochs": 60, "temperature": 2.0, "alpha": 0.7})
            heads[pooling] = recipe, train_head(recipe, e_c, y_c, ev_c, yv_c, pathlib.Path(tmp) / f"head-{pooling}")
            predicted = heads[pooling][1].predict(et_c, verbose=0).argmax(1)
            run[f"teacher_{pooling}"] = classification_metrics(yt_c, predicted, labels)
            run[f"teacher_{pooling}"].pop("confusion")
            run[f"teacher_{pooling}"]["seconds"] = round(time.time() - t, 1)
        t = time.time()
        recipe, head = heads["mean"]
        row = {c.path: i for i, c in enumerate(train)}
        e_windows = e_clean[[row[c.speaker] for c in windows["train"]]]
        student = distil(recipe, head, Arrays(x, y, xv, yv), e_windows, pathlib.Path(tmp) / "student")
        run["distilled"] = clip_metrics(student.predict(xt, verbose=0), groups, truth, labels)
        run["distilled"] |= {"seconds": round(time.time() - t, 1), "params": int(student.count_params())}
    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/teacher_emotion.json")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="ds_cnn_s")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", default=None)
    parser.add_argument("--cache", default="/work/runs/cache/teacher")
    args = parser.parse_args(argv)
    start = time.time()
    root = data_root(args.data, must_exist=True)
    labels = list(tasks.EMOTIONS)
    runs = []
    for seed in range(args.seeds):  # written after every seed: a cut-short run still leaves its figures
        runs.append(one_seed(seed, root, pathlib.Path(args.cache), args, labels))
        print({k: (v["accuracy"], v["uar"]) for k, v in runs[-1].items() if isinstance(v, dict)}, flush=True)
        models = [k for k in runs[0] if isinstance(runs[0][k], dict)]
        results = {"task": "RAVDESS 8 emotions, actors 1-4 train, 5-6 test, per clip", "student": args.model,
                   "epochs": args.epochs, "runs": runs,
                   "summary": {m: {key: {"mean": round(float(np.mean([r[m][key] for r in runs])), 4),
                                         "spread_std": round(float(np.std([r[m][key] for r in runs])), 4),
                                         "seeds": [r[m][key] for r in runs]} for key in ("accuracy", "uar")}
                               for m in models}}
        results_io.write(args.out, results, seeds=list(range(len(runs))), elapsed_s=time.time() - start)
    print(results["summary"])


if __name__ == "__main__":
    main()

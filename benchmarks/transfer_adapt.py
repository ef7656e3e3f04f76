"""Synthetic -> real domain adaptation for the 10 Speech Commands keywords.

Source (labelled): TTS clips of the ten words (three engines, many voices,
augmented). Target (unlabelled): real keyword clips of the ``pool`` speakers
of speech_commands_v2_test. Scores: real clips of the disjoint ``eval``
speakers. Every method starts from the shipped backbone and trains it fully.

    nice python benchmarks/transfer_adapt.py --out runs/transfer_adapt.json
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import results_io  # noqa: E402
from quantize.data import tasks  # noqa: E402
from quantize.data import tts
from quantize.transfer.adapt import adabn, train_adapted  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.transfer.backbone import load_backbone  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402

METHODS = ("source_only", "source_only+adabn", "coral", "dann", "dann+adabn")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/transfer_adapt.json")
    parser.add_argument("--variants", type=int, default=30, help="TTS clips per word")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    fe = FrontEndConfig()
    labels = list(tasks.SC_KEYWORDS)
    source = tts.synthesize(labels, ".cache/tts", variants_per_word=args.variants, seed=args.seed, clip_s=fe.clip_s)
    x_src, y_src = tasks.cached_features(list(source), fe, labels, augment=AugmentConfig(), copies=2, seed=args.seed,
                                         tag="tts-keywords")
    split = tasks.speech_commands(args.data)
    x_tgt, _ = tasks.cached_features(split["pool"], fe, labels, tag="sc-pool")  # labels never used
    x_eval, y_eval = tasks.cached_features(split["eval"], fe, labels, tag="sc-eval")
    results = {"source_windows": int(len(y_src)), "target_windows": int(len(x_tgt)), "eval_windows": int(len(y_eval)),
               "epochs": args.epochs, "runs": {}}
    trained = {}
    for method in args.methods.split(","):
        base, _, post = method.partition("+")
        start = time.time()
        if base not in trained:
            trained[base] = train_adapted(load_backbone(), x_src, y_src, x_tgt, len(labels), method=base,
                                          epochs=args.epochs, seed=args.seed)
        model, log = trained[base]
        if post == "adabn":
            model = _copy(model)
            adabn(model, x_tgt)
        accuracy = float(np.mean(model.predict(x_eval, verbose=0).argmax(1) == y_eval))
        source_acc = float(np.mean(model.predict(x_src, verbose=0).argmax(1) == y_src))
        results["runs"][method] = {"target_accuracy": round(accuracy, 4), "source_accuracy": round(source_acc, 4),
                                   "seconds": round(time.time() - start, 1), "last_epoch": log["epochs"][-1]}
        print(f"{method:18s} target (eval speakers) {accuracy:.3f}  source {source_acc:.3f}", flush=True)
    results_io.write(args.out, results, seeds=[args.seed])


def _copy(model):
    import tf_keras as keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


if __name__ == "__main__":
    main()

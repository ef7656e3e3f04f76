"""Few-shot keywords: fine-tune the shipped backbone vs the same model from scratch.

10 Speech Commands keywords, ``--shots`` real clips per word drawn from the
``pool`` speakers of speech_commands_v2_test, scored on its ``eval`` speakers
(disjoint; see quantize/data/tasks.py). Each draw's clips get 4 augmented copies
(time shift, synthetic noise, reverb, gain). The backbone never saw Speech
Commands audio nor these ten words.

    nice python benchmarks/transfer_fewshot.py --out runs/transfer_fewshot.json
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import results_io  # noqa: E402
from quantize.data import tasks  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.transfer.backbone import load_backbone  # noqa: E402
from quantize.transfer.finetune import MODES, fine_tune  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/transfer_fewshot.json")
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    fe = FrontEndConfig()
    labels = list(tasks.SC_KEYWORDS)
    split = tasks.speech_commands(args.data)
    x_eval, y_eval = tasks.cached_features(split["eval"], fe, labels, tag="sc-eval")
    results = {"shots": args.shots, "epochs": args.epochs, "eval_windows": int(len(y_eval)),
               "eval_speakers": len({c.speaker for c in split["eval"]}),
               "pool_speakers": len({c.speaker for c in split["pool"]}), "runs": []}
    for draw in range(args.draws):
        shots = tasks.few_shot(split["pool"], shots=args.shots, seed=draw)
        x, y = tasks.cached_features(shots, fe, labels, augment=AugmentConfig(), copies=4, seed=draw, tag="sc-fewshot")
        for mode in args.modes.split(","):
            start = time.time()
            model, log = fine_tune(load_backbone(), x, y, len(labels), mode=mode, epochs=args.epochs, lr=3e-3, seed=draw)
            accuracy = float(np.mean(model.predict(x_eval, verbose=0).argmax(1) == y_eval))
            results["runs"].append({"draw": draw, "mode": mode, "accuracy": round(accuracy, 4),
                                    "train_s": round(time.time() - start, 1), "phases": log["phases"]})
            print(f"draw {draw} {mode:12s} accuracy {accuracy:.3f} ({time.time() - start:.0f} s)", flush=True)
    summary = {}
    for mode in args.modes.split(","):
        accs = [r["accuracy"] for r in results["runs"] if r["mode"] == mode]
        summary[mode] = {"mean": round(float(np.mean(accs)), 4), "std": round(float(np.std(accs)), 4), "draws": accs}
    results["summary"] = summary
    results_io.write(args.out, results, seeds=list(range(args.draws)))  # seed = draw: which clips and init
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

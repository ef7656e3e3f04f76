"""Train one zoo model on cached Speech Commands features into a run folder.

The stand-in for the train branch's pipeline while it is being built: writes
``model.keras``, ``metrics.json`` (labels, front end, model, test accuracy)
and ``features.npz`` (the arrays the compression stages fine-tune on).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

import quantize  # noqa: F401
from quantize.train import zoo
from quantize.train.fit import Arrays, FitPlan, accuracy, fit


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--features", default=".cache/compress/sc12_features.npz")
    parser.add_argument("--model", default="ds_cnn_s")
    parser.add_argument("--params", default="{}", help="JSON dict of zoo builder params")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    z = np.load(args.features)
    data = Arrays(z["x_train"], z["y_train"], z["x_val"], z["y_val"], z["x_test"], z["y_test"])
    labels = [str(s) for s in z["labels"]]
    params = json.loads(args.params)
    model = zoo.build(args.model, data.x_train.shape[1:], len(labels), **params)
    t = time.perf_counter()
    _, history = fit(model, data, FitPlan(epochs=args.epochs, lr=args.lr, seed=args.seed), verbose=2)
    run = pathlib.Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    data.save(run / "features.npz")
    metrics = {
        "labels": labels, "frontend": json.loads(str(z["frontend"])),
        "model": {"name": args.model, "params_config": params, "params": zoo.count_params(model),
                  "macs": zoo.count_macs(model)},
        "training": {"epochs": args.epochs, "seed": args.seed, "best_epoch": history["best_epoch"],
                     "train_time_s": time.perf_counter() - t, "best_val_accuracy": max(history["val_accuracy"])},
        "accuracy": accuracy(model, data.x_test, data.y_test),
    }
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics["model"]), metrics["accuracy"], metrics["training"])


if __name__ == "__main__":
    main()

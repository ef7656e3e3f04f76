"""Accuracy of a trained artifact on real recorded speech (a Speech Commands style folder).

For models trained without that data (e.g. the TTS-only ``default`` recipe),
every clip is unseen speech. Words the model does not know count as
``_unknown_`` when the model has that label (else they are left out).

    AURICLE_DATA=/work/shared/data python benchmarks/train_real_speech.py \
        runs/default/model_int8.tflite --out runs/default/real_speech.json
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


from benchmarks import results_io  # noqa: E402
from quantize.data.sources import from_speech_commands  # noqa: E402
from quantize.data.windows import load_features  # noqa: E402
from quantize.export.report import classification_metrics  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.engine import Engine  # noqa: E402

SC_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite artifact (sdk.bundle.Bundle)")
    default_root = pathlib.Path(os.environ.get("AURICLE_DATA", "../shared/data")) / "speech_commands_v2_test"
    parser.add_argument("--data", default=str(default_root), help="Speech Commands style folder")
    parser.add_argument("--out", help="JSON file for the result")
    args = parser.parse_args()

    bundle = Bundle.load(args.model)
    labels = list(bundle.labels)
    keywords = [w for w in labels if w in SC_WORDS]
    clips = from_speech_commands(args.data, keywords=keywords, include_unknown="_unknown_" in labels,
                                 include_silence="_silence_" in labels)
    x, y = load_features(clips, bundle.frontend, labels=labels)
    engine = Engine(bundle)
    scores = engine.predict_batch(x)[0]
    metrics = classification_metrics(y, scores, labels)
    result = {"model": args.model, "data": args.data, "labels": labels, **metrics}
    print(json.dumps({"model": args.model, "examples": metrics["examples"], "accuracy": metrics["accuracy"],
                      "macro_f1": metrics["macro_f1"],
                      "recall": {k: round(v["recall"], 3) for k, v in metrics["per_class"].items()}}, indent=1))
    if args.out:
        results_io.write(args.out, result)


if __name__ == "__main__":
    main()

"""Speed of the training data path: load + featurize Speech Commands, TTS clips per second.

    AURICLE_DATA=/work/shared/data python benchmarks/train_data.py [out.json]

Writes JSON through benchmarks.results_io (default benchmarks/results/train_data.json). Not asserted in tests.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import results_io  # noqa: E402
from quantize.data.augment import AugmentConfig  # noqa: E402
from quantize.data.sources import from_speech_commands  # noqa: E402
from quantize.data.windows import load_features  # noqa: E402
from quantize.data import tts  # noqa: E402
from sdk.frontend import FrontEndConfig  # noqa: E402

KEYWORDS = "yes no up down left right on off stop go".split()


def main(out_path: str) -> dict:
    data = pathlib.Path(os.environ.get("AURICLE_DATA", pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
    results: dict = {"cpu_count": os.cpu_count()}
    root = data / "speech_commands_v2_test"
    if root.is_dir():
        start = time.perf_counter()
        clips = from_speech_commands(root, keywords=KEYWORDS)
        listed = time.perf_counter()
        x, _ = load_features(clips, FrontEndConfig())
        done = time.perf_counter()
        augmented, _ = load_features(clips, FrontEndConfig(), augment=AugmentConfig(), copies=2)
        done_aug = time.perf_counter()
        results["speech_commands_v2_test"] = {
            "clips": len(clips),
            "shape": list(x.shape),
            "list_s": round(listed - start, 3),
            "load_featurize_s": round(done - listed, 3),
            "load_augment_featurize_2_copies_s": round(done_aug - done, 3),
        }
    with tempfile.TemporaryDirectory() as cache:
        words = ["hey lumen", "marvin", "lights on", "stop"]
        start = time.perf_counter()
        made = tts.synthesize(words, cache, variants_per_word=12)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        tts.synthesize(words, cache, variants_per_word=12)
        warm = time.perf_counter() - start
        per_engine = {}
        for engine in tts.ENGINES:
            start = time.perf_counter()
            n = len(tts.synthesize(["computer"], cache, variants_per_word=6, engines=(engine,), seed=5))
            per_engine[engine] = round(n / (time.perf_counter() - start), 1)
    results["tts"] = {
        "clips": len(made),
        "cold_s": round(cold, 2),
        "clips_per_s": round(len(made) / cold, 1),
        "cached_rerun_s": round(warm, 3),
        "clips_per_s_by_engine": per_engine,
    }
    results_io.write(out_path, results)
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/train_data.json"), indent=2))

"""Cache 12-class Speech Commands features (speaker-disjoint split) to .npz.

Used by benchmarks/compress_speech_commands.py. Features come from
sdk.frontend through quantize.data.windows.load_features (default FrontEndConfig).
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from quantize.data.balance import split_by_speaker
from quantize.data.labels import SILENCE, UNKNOWN
from quantize.data.sources import from_speech_commands
from quantize.data.windows import load_features
from sdk.frontend import FrontEndConfig

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
LABELS = [SILENCE, UNKNOWN, *KEYWORDS]


def build(root: str, out: pathlib.Path, *, seed: int = 0, train_copies: int = 1) -> pathlib.Path:
    clips = from_speech_commands(root, keywords=KEYWORDS)
    splits = split_by_speaker(clips, fractions={"train": 0.7, "val": 0.1, "test": 0.2}, seed=seed)
    frontend = FrontEndConfig()
    arrays = {}
    augment = None
    if train_copies > 1:
        from quantize.data.augment import AugmentConfig

        augment = AugmentConfig()
    for split, split_clips in splits.items():
        copies = train_copies if split == "train" else 1
        feats = load_features(split_clips, frontend, labels=LABELS, seed=seed,
                                   augment=augment if split == "train" else None, copies=copies)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = feats.x, feats.y
        arrays[f"speakers_{split}"] = np.asarray(sorted({c.speaker for c in split_clips}))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, labels=np.asarray(LABELS), frontend=json.dumps(frontend.to_dict()), **arrays)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="/work/shared/data/speech_commands_v2_test")
    parser.add_argument("--out", default=".cache/compress/sc12_features.npz")
    parser.add_argument("--train-copies", type=int, default=1)
    args = parser.parse_args()
    path = build(args.root, pathlib.Path(args.out), train_copies=args.train_copies)
    z = np.load(path)
    print(path, {k: z[k].shape for k in z.files})

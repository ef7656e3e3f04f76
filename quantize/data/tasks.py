"""Data for the transfer experiments, with the splits written down once.

Every split that an evaluation relies on is defined here, so the backbone's
training data and the evaluations can be checked to be disjoint:

- Speech Commands (``speech_commands_v2_test``): keyword clips only, split by
  ``speaker_hash`` into ``pool`` (few-shot examples, unlabelled adaptation
  audio) and ``eval`` (scores). The backbone never sees this folder.
- RAVDESS: actors 1-4 train, actors 5-6 test. The backbone never sees it.
- Sounds (speech / music / noise): ESC-50 split by ``src_file``, MUSAN by file
  (the one speech file by time: first 70 % train), RAVDESS by actor,
  ``music_open`` by track (seeded: half the tracks, half the instrument
  snippets test). The backbone uses only the ``train`` part of ESC-50 and
  MUSAN, and no ``music_open``.

Features are cached as ``.npz`` under ``.cache/transfer`` (git-ignored), keyed
by a digest of the clips and front end, so reruns cost nothing.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import pathlib
from dataclasses import asdict

import numpy as np
import soundfile

from quantize.data import data_root
from quantize.data.clips import Clip
from quantize.data.windows import load_features
from quantize.data.balance import split_by_speaker
from sdk.errors import ConfigError
from sdk.frontend import FrontEndConfig

SC_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SOUND_LABELS = ("speech", "music", "noise")
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
EMOTION_TRAIN_ACTORS = ("1", "2", "3", "4")
EMOTION_TEST_ACTORS = ("5", "6")
MUSAN_TEST_FILES = ("music-fma-wa-0002", "noise-free-sound-0001", "noise-sound-bible-0000")
MUSAN_SPEECH_TRAIN_FRACTION = 0.7
MUSIC_OPEN_TEST_FRACTION = 0.5  # of the tracks (and, separately, of the instrument snippets)
CACHE_DIR = pathlib.Path(".cache/transfer")


def _rows(folder: pathlib.Path) -> list[dict]:
    manifest = folder / "labels.csv"
    if not manifest.is_file():
        raise ConfigError(f"{manifest} is missing; expected a labels.csv in {folder}")
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def windows(path, label: str, speaker: str, *, clip_s: float = 1.0, hop_s: float = 1.0,
            start_s: float = 0.0, stop_s: float | None = None, source: str = "real") -> list[Clip]:
    """``clip_s`` windows every ``hop_s`` over ``[start_s, stop_s)`` of a file (at least one)."""
    duration_s = soundfile.info(str(path)).duration
    stop_s = duration_s if stop_s is None else min(stop_s, duration_s)
    starts = np.arange(start_s, max(start_s, stop_s - clip_s) + 1e-9, hop_s)
    return [Clip(str(path), label, speaker, source, float(s)) for s in starts]


# ------------------------------------------------------------ Speech Commands


def speech_commands(root=None, *, seed: int = 0) -> dict[str, list[Clip]]:
    """Keyword clips of ``speech_commands_v2_test`` split by speaker: ``pool`` / ``eval`` (50/50)."""
    folder = data_root(root, must_exist=True) / "speech_commands_v2_test"
    clips = [
        Clip(str(folder / r["path"]), r["label"], r["speaker_hash"], "real")
        for r in _rows(folder) if r["label"] in SC_KEYWORDS
    ]
    return split_by_speaker(clips, fractions={"pool": 0.5, "eval": 0.5}, seed=seed)


def few_shot(pool: list[Clip], *, shots: int, seed: int) -> list[Clip]:
    """``shots`` clips per keyword drawn from ``pool`` (seeded)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for word in SC_KEYWORDS:
        candidates = [c for c in pool if c.label == word]
        if len(candidates) < shots:
            raise ConfigError(f"few_shot: only {len(candidates)} pool clips of {word!r}, need shots={shots}")
        chosen += [candidates[i] for i in rng.choice(len(candidates), shots, replace=False)]
    return chosen


# ------------------------------------------------------------------- RAVDESS


def ravdess(root=None) -> list[dict]:
    folder = data_root(root, must_exist=True) / "ravdess_speech"
    rows = _rows(folder)
    for r in rows:
        r["path"] = str(folder / r["path"])
    return rows


def emotion_clips(root=None, *, hop_s: float = 0.5) -> dict[str, list[Clip]]:
    """1-s windows of RAVDESS clips, ``train`` (actors 1-4) / ``test`` (5-6).

    ``speaker`` is the file path, so windows can be grouped back into clips.
    The clip's intensity and gender are kept in ``source`` as ``"intensity|gender"``
    for the multi-task model.
    """
    out = {"train": [], "test": []}
    for r in ravdess(root):
        split = "train" if r["actor"] in EMOTION_TRAIN_ACTORS else "test" if r["actor"] in EMOTION_TEST_ACTORS else None
        if split:
            out[split] += windows(r["path"], r["emotion"], r["path"], hop_s=hop_s, source=f"{r['intensity']}|{r['gender']}")
    return out


# -------------------------------------------------------- speech/music/noise


def esc50_split(root=None, *, seed: int = 0) -> dict[str, list[dict]]:
    """ESC-50 rows split 70/30 by source recording (``src_file``)."""
    folder = data_root(root, must_exist=True) / "esc50"
    rows = _rows(folder)
    clips = [Clip(str(folder / r["path"]), r["category"], "esc50:" + r["src_file"]) for r in rows]
    parts = split_by_speaker(clips, fractions={"train": 0.7, "test": 0.3}, seed=seed)
    return parts


def musan(root=None) -> list[dict]:
    folder = data_root(root, must_exist=True) / "musan_subset"
    rows = _rows(folder)
    for r in rows:
        r["path"] = str(folder / r["path"])
        r["stem"] = pathlib.Path(r["path"]).stem
    return rows


def musan_windows(root=None, *, split: str, hop_s: float = 1.0) -> list[Clip]:
    """1-s windows of MUSAN, labelled music/noise/speech, of one split (file-disjoint, speech by time)."""
    out = []
    for r in musan(root):
        if r["class"] == "speech":
            duration_s = soundfile.info(r["path"]).duration
            cut_s = MUSAN_SPEECH_TRAIN_FRACTION * duration_s
            span = (0.0, cut_s) if split == "train" else (cut_s, None)
            out += windows(r["path"], "speech", "musan:" + r["stem"], hop_s=hop_s, start_s=span[0], stop_s=span[1])
        elif (r["stem"] in MUSAN_TEST_FILES) == (split == "test"):
            out += windows(r["path"], r["class"], "musan:" + r["stem"], hop_s=hop_s)
    return out


def music_open_track(path) -> str:
    """The track a ``music_open`` clip was cut from: its file name less the ``_<k>`` clip number."""
    stem = pathlib.Path(path).stem
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() else stem


def music_open_split(root=None, *, seed: int = 0, hop_s: float = 1.0) -> dict[str, list[Clip]]:
    """1-s windows of ``music_open``, ``train`` / ``test`` split by track (seeded).

    Full tracks (several 10-s clips each) and instrument snippets (one file
    each) are split separately, so both kinds are on both sides.
    """
    folder = data_root(root, must_exist=True) / "music_open"
    rows = _rows(folder)
    tracks: dict[str, list[str]] = {}
    for r in rows:
        tracks.setdefault(music_open_track(r["path"]), []).append(str(folder / r["path"]))
    rng = np.random.default_rng(seed)
    test = set()
    for kind in (lambda t: len(tracks[t]) > 1, lambda t: len(tracks[t]) == 1):
        names = sorted(t for t in tracks if kind(t))
        test |= {names[i] for i in rng.permutation(len(names))[: int(round(MUSIC_OPEN_TEST_FRACTION * len(names)))]}
    out = {"train": [], "test": []}
    for track, paths in sorted(tracks.items()):
        for path in sorted(set(paths)):
            out["test" if track in test else "train"] += windows(path, "music", "music_open:" + track, hop_s=hop_s,
                                                                  source="music_open")
    return out


def sound_clips(root=None, *, hop_s: float = 1.0, music_seed: int | None = 0) -> dict[str, list[Clip]]:
    """Speech / music / noise 1-s windows, ``train`` / ``test`` disjoint by file, actor, track or time span.

    ``music_seed``: the track split of ``music_open`` (:func:`music_open_split`); ``None`` leaves it out.
    """
    out = {}
    esc = esc50_split(root)
    emotion = emotion_clips(root, hop_s=hop_s)
    music = music_open_split(root, seed=music_seed, hop_s=hop_s) if music_seed is not None else {"train": [], "test": []}
    for split in ("train", "test"):
        clips = musan_windows(root, split=split, hop_s=hop_s) + music[split]
        clips += [w for c in esc[split] for w in windows(c.path, "noise", c.speaker, hop_s=hop_s)]
        clips += [Clip(c.path, "speech", c.speaker, c.source, c.start_s) for c in emotion[split]]
        out[split] = clips
    return out


# ------------------------------------------------------------------ caching


def cached_features(clips, frontend: FrontEndConfig, labels, *, augment=None, copies: int = 1, seed: int = 0,
                    cache_dir=CACHE_DIR, tag: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``load_features`` with an ``.npz`` cache keyed by clips, labels, front end and augmentation."""
    key = json.dumps([[asdict(c) for c in clips], list(labels), frontend.to_dict(), repr(augment), copies, seed, tag],
                     sort_keys=True)
    path = pathlib.Path(cache_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as f:
            return f["x"], f["y"]
    x, y = load_features(clips, frontend, labels=labels, augment=augment, copies=copies, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return x, y

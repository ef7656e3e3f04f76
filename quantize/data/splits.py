"""A recipe's data: clips per split from every source, then their feature windows.

``list_clips`` reads every source (folders, manifests, Speech Commands, TTS),
maps labels, splits by speaker according to each source's role, adds
generated silence and caps ``_unknown_``; ``load_split_features`` turns a
split's clips into feature windows (and a teacher's embeddings of the same
audio). ``quantize.pipeline.run`` calls both; benchmarks call them to see
which clips a recipe holds out.
"""
from __future__ import annotations

import logging
import os
import pathlib
from collections import Counter
from dataclasses import replace

import numpy as np

from quantize import progress
from quantize.data.balance import cap_per_label, cap_unknown, silence_clips, split_by_speaker
from quantize.data.labels import SILENCE, UNKNOWN
from quantize.data.sources import from_folders, from_manifest, from_speech_commands
from quantize.data.windows import load_features
from quantize.recipe import Recipe
from sdk.errors import AudioError, ConfigError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _map_labels(clips, recipe: Recipe, source, where: str):
    """Apply ``label_map``; labels that are not keywords become ``_unknown_`` (or an error)."""
    keywords, out = set(recipe.data.keywords), []
    for clip in clips:
        label = source.label_map.get(clip.label, clip.label)
        if label not in keywords and not (label == SILENCE and recipe.data.silence):
            if not recipe.data.unknown:
                raise ConfigError(
                    f"{recipe.source}: {where}: label {label!r} is not in data.keywords {sorted(keywords)}; "
                    "add it, map it with label_map, or set data.unknown: true to use it as _unknown_"
                )
            label = UNKNOWN
        out.append(replace(clip, label=label))
    return out


def split_source(clips, role, recipe: Recipe) -> dict:
    """Split by speaker with ``data.split``; ``eval`` / ``test`` keep only those parts of that
    same split, so recipes that differ in roles are tested on the same clips."""
    if role == "train":
        return {"train": list(clips), "val": [], "test": []}
    if role == "fit":
        fractions = recipe.data.split
        kept = fractions["train"] + fractions["val"]
        parts = split_by_speaker(
            clips, fractions={"train": fractions["train"] / kept, "val": fractions["val"] / kept}, seed=recipe.seed
        )
        return {"train": parts["train"], "val": parts["val"], "test": []}
    pinned = set(recipe.data.test_speakers)
    if pinned:  # few speakers: named ones test, the rest split by clip into train / val
        fractions = recipe.data.split
        kept = fractions["train"] + fractions["val"]
        rest = [replace(c, speaker="") for c in clips if c.speaker not in pinned]
        by_clip = split_by_speaker(
            rest, fractions={"train": fractions["train"] / kept, "val": fractions["val"] / kept}, seed=recipe.seed
        )
        originals = {c.path: c for c in clips}
        parts = {
            "train": [originals[c.path] for c in by_clip["train"]],
            "val": [originals[c.path] for c in by_clip["val"]],
            "test": [c for c in clips if c.speaker in pinned],
        }
    else:
        parts = split_by_speaker(clips, fractions=dict(recipe.data.split), seed=recipe.seed)
        parts = {split: parts.get(split, []) for split in SPLITS}
    if role == "eval":
        parts["train"] = []
    elif role == "test":
        parts["train"], parts["val"] = [], []
    return parts


def read_sources(recipe: Recipe) -> list:
    """(index, source, clips) of every non-TTS source, labels mapped."""
    out = []
    for i, source in enumerate(recipe.data.sources):
        if source.kind == "tts":
            continue
        where = f"data.sources[{i}] ({source.kind} {source.path})"
        path = recipe.resolve_path(source.path)
        if source.kind == "background":
            clips = _background_clips(recipe, i, source, path, where)
            out += [(i, source, clips)] if clips else []
            continue
        try:
            if source.kind == "speech_commands":
                clips = from_speech_commands(
                    path,
                    keywords=source.keywords or recipe.data.keywords,
                    include_unknown=source.include_unknown and recipe.data.unknown,
                    include_silence=source.include_silence and recipe.data.silence,
                    clip_s=recipe.frontend.clip_s,
                    seed=recipe.seed,
                )
            elif source.kind == "folders":
                clips = from_folders(path)
            else:
                clips = from_manifest(
                    path,
                    label_column=source.label_column,
                    path_column=source.path_column,
                    speaker_column=source.speaker_column,
                )
        except ConfigError as exc:
            raise ConfigError(f"{recipe.source}: {where}: {exc}") from None
        clips = _map_labels(clips, recipe, source, where)
        out.append((i, source, cap_per_label(clips, source.max_clips_per_label, recipe.seed)))
    return out


def _background_clips(recipe: Recipe, index: int, source, path: pathlib.Path, where: str) -> list:
    """Windows of a background folder's train files, as ``_unknown_`` (``quantize.wakeword.background``)."""
    from quantize.wakeword import background

    if not path.is_dir() and source.optional:
        log.warning("%s: %s is absent; skipped (optional)", where, path)
        return []
    train = background.files(path, "train", held_back=source.held_back, held_out=source.held_out,
                             where=f"{recipe.source}: {where}")
    if not train:
        raise ConfigError(f"{recipe.source}: {where}: no file of {path} falls in the train share "
                          f"(held_back={source.held_back}, held_out={source.held_out}); add files or lower them")
    return background.windows(train, max_windows=source.max_clips_per_label or 2000, clip_s=recipe.frontend.clip_s,
                              seed=recipe.seed + index, root=path)


def check_labels(recipe: Recipe, file_sources) -> None:
    """Every label needs training audio from some source (or TTS, or generated silence)."""
    trainable = Counter()
    for _, source, clips in file_sources:
        if source.role in ("all", "train", "fit"):
            trainable.update(c.label for c in clips)
    for source in recipe.data.sources:
        if source.kind == "tts" and source.role in ("all", "train", "fit"):
            trainable.update(source.words or recipe.data.keywords)
            if source.unknown_words or source.near_misses or source.sentences:
                trainable[UNKNOWN] += 1
    if recipe.data.silence:
        trainable[SILENCE] += 1  # generated from noise when no source has it
    missing = [label for label in recipe.labels if trainable[label] == 0]
    if missing:
        raise ConfigError(
            f"{recipe.source}: label(s) {missing} have no training audio in any source "
            f"(sources with role all/train give: {dict(sorted(trainable.items()))})"
        )


def _tts_clips(recipe: Recipe, index: int, source, out_dir: pathlib.Path) -> list:
    try:
        from quantize.data import tts
    except ImportError as exc:
        raise ConfigError(f"{recipe.source}: data.sources[{index}] (tts): quantize.data.tts is not available ({exc})") from None
    words = list(source.words or recipe.data.keywords)
    spoken = {recipe.data.say.get(w, w): w for w in words}
    common = {"engines": list(source.engines), "clip_s": recipe.frontend.clip_s}
    said = tts.synthesize(list(spoken), out_dir, variants_per_word=source.variants_per_word, seed=recipe.seed, **common)
    clips = [replace(c, label=spoken.get(c.label, c.label)) for c in said]
    others: list = []
    if source.near_misses:
        for text in spoken:
            others += tts.near_misses(text, count=source.near_miss_count)
    if source.unknown_words:
        others += tts.unknown_words(list(spoken), count=source.unknown_words, seed=recipe.seed)
    keep = {w.lower() for w in spoken}
    others = [w for w in dict.fromkeys(others) if w.lower() not in keep]
    if others:
        clips += list(tts.synthesize(others, out_dir, variants_per_word=source.unknown_variants_per_word,
                                     seed=recipe.seed + 1, label=UNKNOWN, **common))
    if source.sentences:  # engines take turns across sentences, each said once
        said = tts.sentences(list(spoken), count=source.sentences, seed=recipe.seed)
        for k, engine in enumerate(source.engines):
            clips += list(tts.synthesize(said[k :: len(source.engines)], out_dir, variants_per_word=1,
                                         seed=recipe.seed + 2, label=UNKNOWN, engines=[engine], clip_s=None))
    bad = sorted({c.label for c in clips} - set(recipe.labels))
    if bad:
        raise ConfigError(f"{recipe.source}: data.sources[{index}] (tts): synthesized clips with label(s) {bad}")
    return cap_per_label(clips, source.max_clips_per_label, recipe.seed)


def _generated_silence(recipe: Recipe, splits: dict, work_dir: pathlib.Path) -> None:
    """Silence clips cropped from generated noise, for splits that have none."""
    from quantize.data.augment import write_synthetic_noise

    keyword_counts = [n for label, n in Counter(c.label for c in splits["train"]).items() if label not in (UNKNOWN, SILENCE)]
    per_train = recipe.data.silence_count or max(10, int(np.mean(keyword_counts)) if keyword_counts else 10)
    noise_files = write_synthetic_noise(
        work_dir / "noise", seconds=20.0, sample_rate=recipe.frontend.sample_rate, seed=recipe.seed
    )
    fractions = recipe.data.split
    for offset, split in enumerate(SPLITS):
        if any(c.label == SILENCE for c in splits[split]) or fractions[split] == 0:
            continue
        count = max(4, int(round(per_train * fractions[split] / fractions["train"])))
        clips = silence_clips(noise_files, count, clip_s=recipe.frontend.clip_s, seed=recipe.seed + 7 * offset)
        splits[split] += [replace(c, speaker=f"generated-{split}-{i}") for i, c in enumerate(clips)]


def list_clips(recipe: Recipe, work_dir: pathlib.Path, *, file_sources=None) -> dict:
    """Clips of each split, from every source (TTS synthesized into ``work_dir/tts``)."""
    file_sources = read_sources(recipe) if file_sources is None else file_sources
    splits: dict = {s: [] for s in SPLITS}
    for _, source, clips in file_sources:
        for split, part in split_source(clips, source.role, recipe).items():
            splits[split] += part
    for i, source in enumerate(recipe.data.sources):
        if source.kind == "tts":
            cache = pathlib.Path(os.environ.get("AURICLE_TTS_CACHE") or work_dir / "tts")
            clips = _tts_clips(recipe, i, source, cache)
            for split, part in split_source(clips, source.role, recipe).items():
                splits[split] += part
    if recipe.data.silence:
        _generated_silence(recipe, splits, work_dir)
    if recipe.data.unknown:
        splits = {s: cap_unknown(c, max_ratio=recipe.data.unknown_max_ratio, seed=recipe.seed) for s, c in splits.items()}
    for split in ("train", "val"):
        missing = sorted(set(recipe.labels) - {c.label for c in splits[split]})
        if missing and split == "train":
            raise ConfigError(f"{recipe.source}: label(s) {missing} have no audio in the train split")
        if not splits[split]:
            raise ConfigError(
                f"{recipe.source}: the {split} split is empty; check data.split {dict(recipe.data.split)} "
                "and the sources' roles (few speakers?)"
            )
    if not splits["test"]:
        raise ConfigError(f"{recipe.source}: the test split is empty; check data.split and the sources' roles")
    return splits


def load_split_features(recipe: Recipe, clips, *, augment, copies: int, seed: int, description: str, embed=None):
    """Features of ``clips`` in chunks (for the progress count); returns ``(X, y, skipped, E)``.

    ``embed``: a teacher's ``audio -> embeddings`` callable; ``E`` are the
    embeddings of the same (augmented) audio, row for row (``None`` without).
    Unreadable files are judged over the whole split (at most 5 %), not per chunk.
    """
    frontend = recipe.frontend_config()
    chunk = 64
    xs, ys, es, skipped = [], [], [], []
    with progress.stage(description, total=len(clips)) as advance:
        for k, start in enumerate(range(0, len(clips), chunk)):
            part = clips[start : start + chunk]
            feats = load_features(part, frontend, labels=recipe.labels, augment=augment, copies=copies,
                                  seed=seed * 100_003 + k, max_skipped_fraction=1.0, keep_audio=embed is not None)
            xs.append(feats[0])
            ys.append(feats[1])
            if embed is not None and feats.audio is not None:
                es.append(embed(feats.audio))
            skipped += list(getattr(feats, "skipped", []))
            advance(len(part))
    if len(skipped) > 0.05 * len(clips):
        raise AudioError(f"{description.strip()}: {len(skipped)} of {len(clips)} files are unreadable (more than "
                         f"5 %), e.g. {skipped[0][0]}: {skipped[0][1]}")
    embeddings = np.concatenate(es) if embed is not None else None
    return np.concatenate(xs), np.concatenate(ys), skipped, embeddings


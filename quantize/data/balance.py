"""Balancing and splitting clip lists: silence crops, caps, oversampling, the speaker split.

Everything here is seeded and works on :class:`~quantize.data.clips.Clip`
lists, before any audio is decoded (``silence_clips`` reads only file lengths).
"""
from __future__ import annotations

import hashlib
import pathlib
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import soundfile

from quantize.data.clips import Clip
from quantize.data.labels import SILENCE, UNKNOWN
from sdk.errors import AudioError, ConfigError


def silence_clips(
    noise_files: Sequence,
    count: int,
    *,
    clip_s: float = 1.0,
    seed: int = 0,
    quiet_fraction: float = 0.1,
    segment_s: float = 10.0,
) -> list[Clip]:
    """``count`` random ``clip_s`` crops of long noise files at random gains.

    Gains are log-uniform over -40..0 dB; ``quiet_fraction`` of the crops are
    at -90 dB (near digital silence, as a muted microphone gives). Each file
    is cut into segments of about ``segment_s`` and a crop lies inside one
    segment; its speaker is ``<file stem>#<segment>``, so a speaker-disjoint
    split spreads a few long recordings over every split without any two
    splits sharing audio. Files shorter than ``clip_s`` are used whole.
    """
    if count < 0:
        raise ConfigError(f"silence_clips: count={count} must be >= 0")
    if count and not noise_files:
        raise ConfigError("silence_clips: no noise files to crop silence from")
    if segment_s < clip_s:
        raise ConfigError(f"silence_clips: segment_s={segment_s} must be at least clip_s={clip_s}")
    rng = np.random.default_rng(seed)
    durations = []
    for path in noise_files:
        try:
            info = soundfile.info(str(path))
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"{path}: not a readable noise file ({exc})") from None
        durations.append(info.frames / info.samplerate)
    clips = []
    for _ in range(count):
        index = int(rng.integers(len(noise_files)))
        path, duration_s = str(noise_files[index]), durations[index]
        segments = max(1, int(duration_s // segment_s))
        segment = int(rng.integers(segments))
        length_s = duration_s / segments
        low_s = segment * length_s
        start_s = float(rng.uniform(low_s, low_s + length_s - clip_s)) if length_s > clip_s else None
        gain_db = -90.0 if rng.random() < quiet_fraction else float(rng.uniform(-40, 0))
        speaker = f"{pathlib.Path(path).stem}#{segment}"
        clips.append(Clip(path, SILENCE, speaker, "noise", start_s, float(10 ** (gain_db / 20))))
    return clips


def cap_unknown(clips: Sequence[Clip], *, max_ratio: float = 2.0, seed: int = 0) -> list[Clip]:
    """Keep at most ``max_ratio`` x the mean keyword count of ``_unknown_`` clips.

    Keywords are every label except ``_unknown_`` and ``_silence_``. Which
    unknown clips stay is a seeded random choice; order is otherwise kept.
    """
    if max_ratio < 0:
        raise ConfigError(f"cap_unknown: max_ratio={max_ratio} must be >= 0")
    counts = Counter(c.label for c in clips)
    keyword_counts = [n for label, n in counts.items() if label not in (UNKNOWN, SILENCE)]
    if not keyword_counts or counts[UNKNOWN] == 0:
        return list(clips)
    limit = int(round(max_ratio * float(np.mean(keyword_counts))))
    unknown = [i for i, c in enumerate(clips) if c.label == UNKNOWN]
    if len(unknown) <= limit:
        return list(clips)
    keep = set(np.random.default_rng(seed).choice(unknown, size=limit, replace=False).tolist())
    return [c for i, c in enumerate(clips) if c.label != UNKNOWN or i in keep]


def cap_per_label(clips, limit, seed):
    """At most ``limit`` clips of each label (a seeded choice, order kept); ``limit`` None or 0: all."""
    if not limit:
        return clips
    rng = np.random.default_rng(seed)
    by_label: dict = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    kept = []
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) > limit:
            group = [group[i] for i in sorted(rng.choice(len(group), limit, replace=False))]
        kept += group
    return kept


def class_weights(labels: Sequence, *, num_classes: int | None = None) -> dict[int, float]:
    """Keras ``class_weight`` for integer labels: ``n / (classes * count)``; mean weight per example is 1."""
    y = np.asarray(labels, dtype=np.int64)
    num_classes = num_classes or (int(y.max()) + 1 if y.size else 0)
    counts = np.bincount(y, minlength=num_classes)
    present = np.count_nonzero(counts)
    return {k: (float(y.size / (present * counts[k])) if counts[k] else 0.0) for k in range(num_classes)}


def oversample(clips: Sequence[Clip], *, seed: int = 0) -> list[Clip]:
    """Repeat clips of smaller classes (seeded random picks) until every class has the largest count."""
    by_label: dict[str, list[Clip]] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    if not by_label:
        return []
    target = max(len(v) for v in by_label.values())
    rng = np.random.default_rng(seed)
    out = list(clips)
    for label in sorted(by_label):
        group = by_label[label]
        extra = target - len(group)
        if extra:
            out += [group[i] for i in rng.choice(len(group), size=extra, replace=extra > len(group))]
    return out


def _unit_hash(key: str, seed: int) -> float:
    digest = hashlib.sha1(f"{seed}\0{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_by_speaker(
    clips: Sequence[Clip],
    *,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, list[Clip]]:
    """Speaker-disjoint, deterministic split, like Speech Commands' ``which_set``.

    Each speaker (or, without one, each path) is placed by a hash of its name
    and ``seed`` alone, so adding clips or speakers never moves an existing
    speaker to another split. Fractions are of speakers, not clips, and hold
    only approximately for few speakers. The split does not depend on the
    order of ``fractions``' keys (a recipe read back from an artifact's
    provenance has them sorted): train, val, test come first, others after.
    """
    fractions = dict(fractions or {"train": 0.7, "val": 0.1, "test": 0.2})
    if not fractions or any(not np.isfinite(f) or f < 0 for f in fractions.values()):
        raise ConfigError(f"split_by_speaker: fractions={fractions} must be non-negative numbers")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split_by_speaker: fractions={fractions} sum to {total:g}, expected 1")
    canonical = ("train", "val", "test")
    names = [n for n in canonical if n in fractions] + sorted(n for n in fractions if n not in canonical)
    edges = np.cumsum([fractions[n] for n in names])
    out: dict[str, list[Clip]] = {n: [] for n in names}
    for clip in clips:
        u = _unit_hash(clip.speaker or "path:" + clip.path, seed)
        index = min(int(np.searchsorted(edges, u, side="right")), len(names) - 1)
        out[names[index]].append(clip)
    return out

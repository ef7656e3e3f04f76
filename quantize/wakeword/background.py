"""Long audio without the phrase, split by file into train, calibration and held-out shares.

A file's share is fixed by a hash of its path inside its folder, so the same
file lands in the same share on every machine, for every phrase and seed:
training windows and mining read only ``train`` files, calibration only
``calibration`` files, and a benchmark can measure false accepts on the
``held_out`` files that no model has heard.
"""
from __future__ import annotations

import hashlib
import logging
import pathlib

import numpy as np
import soundfile

from quantize.data.clips import Clip
from quantize.data.labels import UNKNOWN
from sdk.audio import audio_folder

log = logging.getLogger(__name__)
SHARES = ("train", "calibration", "held_out")


def share(relative_path: str, *, held_back: float, held_out: float) -> str:
    """``train``, ``calibration`` or ``held_out`` for a file named by its path inside its folder."""
    digest = hashlib.sha1(pathlib.PurePosixPath(relative_path).as_posix().encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < held_back:
        return "calibration"
    if u >= 1.0 - held_out:
        return "held_out"
    return "train"


def files(folder, part: str, *, held_back: float, held_out: float, where: str = "negatives") -> list[pathlib.Path]:
    """The audio files of ``folder`` (recursive) in share ``part``; ConfigError when the folder is missing or empty."""
    if part not in SHARES:
        raise ValueError(f"part={part!r} must be one of {SHARES}")
    root = pathlib.Path(folder)
    return [f for f in audio_folder(root, f"{where}: folder") if share(str(f.relative_to(root)), held_back=held_back, held_out=held_out) == part]


def negative_files(recipe, part: str) -> list[pathlib.Path]:
    """Files of every ``wakeword.negatives`` folder of ``recipe`` in share ``part`` (absent optional folders skipped)."""
    section = recipe.wakeword
    found = []
    for i, negatives in enumerate(section.negatives):
        folder = recipe.resolve_path(negatives.path)
        if not folder.is_dir() and negatives.optional:
            continue
        found += files(folder, part, held_back=section.held_back, held_out=section.held_out,
                       where=f"{recipe.source}: wakeword.negatives[{i}] ({negatives.path})")
    return found


def duration_s(path) -> float | None:
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        log.warning("background: skipping %s (%s)", path, exc)
        return None
    return info.frames / info.samplerate if info.samplerate else None


def windows(paths, *, max_windows: int, clip_s: float, seed: int, root=None) -> list[Clip]:
    """Up to ``max_windows`` clip-length ``_unknown_`` windows, drawn evenly over the audio's length.

    Each file is cut into consecutive windows (a random offset per file);
    a seeded draw keeps ``max_windows`` of them. A file shorter than a window
    is one clip (padded when loaded). The speaker is the file, so a file's
    windows stay in one split.
    """
    rng = np.random.default_rng(seed)
    candidates: list[tuple[str, float | None]] = []
    for path in paths:
        length = duration_s(path)
        if not length:
            continue
        if length <= clip_s:
            candidates.append((str(path), None))
            continue
        offset = float(rng.uniform(0, min(clip_s, length - clip_s)))
        starts = np.arange(offset, length - clip_s + 1e-9, clip_s)
        candidates += [(str(path), round(float(s), 4)) for s in starts]
    if len(candidates) > max_windows:
        keep = np.sort(rng.choice(len(candidates), size=max_windows, replace=False))
        candidates = [candidates[i] for i in keep]
    base = pathlib.Path(root) if root is not None else None
    return [Clip(p, UNKNOWN, f"background:{pathlib.Path(p).relative_to(base) if base else p}", "background", start)
            for p, start in candidates]


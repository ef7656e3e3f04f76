"""Training data as users have it: folders, Speech Commands, CSV manifests.

Every loader returns a list of :class:`~quantize.data.clips.Clip`. Loaders
check the layout up front and raise ``ConfigError`` naming the folder, label
or column at fault, so a bad dataset fails before any training starts.
"""
from __future__ import annotations

import csv
import os
import pathlib
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from quantize.data.balance import silence_clips
from quantize.data.clips import Clip
from quantize.data.labels import SILENCE, UNKNOWN
from sdk.audio import AUDIO_SUFFIXES, audio_files
from sdk.errors import ConfigError

BACKGROUND_NOISE = "_background_noise_"  # Speech Commands' folder of long noise files, not a label


def _check_folder(root, what: str) -> pathlib.Path:
    folder = pathlib.Path(root)
    if not folder.exists():
        raise ConfigError(f"{what}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{what}: {folder} is a file, expected a folder")
    return folder


_NOHASH = re.compile(r"^(?:(?P<word>.+)_)?(?P<speaker>[^_]+)_nohash_")


def speaker_of(path: str | os.PathLike) -> str:
    """Speech Commands speaker id: the part of the file name before ``_nohash_``; "" if none.

    Prepared sets name unknown words ``<word>_<speaker>_nohash_<n>.wav``;
    the word is not part of the speaker.
    """
    match = _NOHASH.match(pathlib.Path(path).name)
    return match.group("speaker") if match else ""


def _spoken_word(path: pathlib.Path) -> str | None:
    """The word in a prepared ``_unknown_/<word>_<speaker>_nohash_<n>.wav`` name."""
    match = _NOHASH.match(path.name)
    return match.group("word") if match else None


def from_folders(root, *, source: str = "real") -> list[Clip]:
    """A folder per label, each holding audio files (any format and rate).

    Folders starting with ``.`` and ``_background_noise_`` (noise for
    augmentation, not a label) are ignored. Speakers come from Speech
    Commands style ``<speaker>_nohash_<n>.wav`` names when present.
    """
    folder = _check_folder(root, "from_folders")
    label_dirs = sorted(
        p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != BACKGROUND_NOISE
    )
    if not label_dirs:
        raise ConfigError(f"from_folders: {folder} has no label folders (expected one folder per label)")
    clips = []
    for label_dir in label_dirs:
        files = audio_files(label_dir)
        if not files:
            raise ConfigError(
                f"from_folders: label {label_dir.name!r} has no audio files in {label_dir} "
                f"(looked for {', '.join(sorted(AUDIO_SUFFIXES)[:6])}, ...)"
            )
        clips += [Clip(str(p), label_dir.name, speaker_of(p), source) for p in files]
    return clips


def _read_csv(csv_path: pathlib.Path) -> tuple[list[str], list[dict]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{csv_path}: not a readable CSV manifest ({exc})") from None


def from_manifest(
    csv_path,
    *,
    label_column: str = "label",
    path_column: str = "path",
    speaker_column: str | None = None,
    source: str = "real",
) -> list[Clip]:
    """Clips listed in a CSV file; paths are relative to the CSV's folder.

    >>> from_manifest("fsdd/labels.csv", label_column="digit", speaker_column="speaker")  # doctest: +SKIP
    """
    csv_path = pathlib.Path(csv_path)
    if not csv_path.is_file():
        raise ConfigError(f"from_manifest: manifest {csv_path} does not exist")
    columns, rows = _read_csv(csv_path)
    for what, column in (("path_column", path_column), ("label_column", label_column), ("speaker_column", speaker_column)):
        if column is not None and column not in columns:
            raise ConfigError(f"from_manifest: {csv_path} has no column {column!r} ({what}); columns: {columns}")
    if not rows:
        raise ConfigError(f"from_manifest: {csv_path} lists no clips")
    base = csv_path.parent
    clips, missing = [], []
    for line, row in enumerate(rows, start=2):
        rel, label = (row.get(path_column) or "").strip(), (row.get(label_column) or "").strip()
        if not rel or not label:
            raise ConfigError(f"from_manifest: {csv_path} line {line}: empty {path_column!r} or {label_column!r}")
        path = base / rel
        if not path.is_file():
            missing.append(str(path))
            continue
        speaker = (row.get(speaker_column) or "").strip() if speaker_column else ""
        clips.append(Clip(str(path), label, speaker, source))
    if missing:
        raise ConfigError(
            f"from_manifest: {csv_path} lists {len(missing)} file(s) that do not exist, e.g. {missing[:3]}"
        )
    return clips


def from_speech_commands(
    root,
    *,
    keywords: Sequence[str],
    include_unknown: bool = True,
    include_silence: bool = True,
    silence_count: int | None = None,
    clip_s: float = 1.0,
    seed: int = 0,
) -> list[Clip]:
    """Google Speech Commands: a folder per word, other words become ``_unknown_``.

    Works on the original layout (``_background_noise_`` holds long noise
    files; the silence class is made of ``clip_s`` crops of them, see
    :func:`silence_clips`, ``silence_count`` of them, by default the mean
    keyword count) and on prepared test sets that already have ``_silence_``
    and ``_unknown_`` folders and a ``labels.csv`` (``path,label,spoken_word,
    speaker_hash``). Speakers are the ``<hash>_nohash_`` prefix, or the file
    stem for clips without one.
    """
    folder = _check_folder(root, "from_speech_commands")
    keywords = list(keywords)
    if not keywords or len(set(keywords)) != len(keywords):
        raise ConfigError(f"from_speech_commands: keywords={keywords!r} must be a non-empty list without repeats")
    for word in keywords:
        if word in (UNKNOWN, SILENCE):
            raise ConfigError(f"from_speech_commands: keyword {word!r} is reserved; use include_unknown/include_silence")

    def relabel(word: str) -> str | None:
        if word in keywords:
            return word
        if word == SILENCE:
            return SILENCE if include_silence else None
        return UNKNOWN if include_unknown else None

    clips = [c for c in _speech_commands_listing(folder) if relabel(c.label) is not None]
    clips = [Clip(c.path, relabel(c.label), c.speaker, "noise" if relabel(c.label) == SILENCE else "real") for c in clips]
    missing = [c.path for c in clips if not os.path.isfile(c.path)] if (folder / "labels.csv").is_file() else []
    if missing:
        raise ConfigError(f"from_speech_commands: {folder / 'labels.csv'} lists {len(missing)} missing file(s), "
                          f"e.g. {missing[:3]}")

    counts = Counter(c.label for c in clips)
    for word in keywords:
        if counts[word] == 0:
            raise ConfigError(
                f"from_speech_commands: keyword {word!r} has no audio files in {folder / word} "
                f"(words found: {sorted(w for w in counts if w not in (UNKNOWN, SILENCE))})"
            )
    if include_silence and counts[SILENCE] == 0:
        noise_dir = folder / BACKGROUND_NOISE
        if not noise_dir.is_dir() or not audio_files(noise_dir):
            raise ConfigError(
                f"from_speech_commands: include_silence=True but {noise_dir} has no noise files "
                f"and there is no {SILENCE} folder; pass include_silence=False or add noise"
            )
        count = silence_count or int(round(np.mean([counts[w] for w in keywords])))
        clips += silence_clips(audio_files(noise_dir), count, clip_s=clip_s, seed=seed)
    return clips


def _speech_commands_listing(folder: pathlib.Path) -> list[Clip]:
    """Every clip of a Speech Commands folder, labelled with its spoken word (not yet relabelled).

    A prepared set's ``labels.csv`` wins over the folder layout; prepared
    ``_unknown_/<word>_<speaker>_nohash_<n>.wav`` names give their word.
    """
    manifest = folder / "labels.csv"
    clips: list[Clip] = []
    if manifest.is_file():
        columns, rows = _read_csv(manifest)
        if not {"path", "label"} <= set(columns):
            raise ConfigError(f"from_speech_commands: {manifest} needs columns path,label; has {columns}")
        for row in rows:
            word = (row.get("spoken_word") or "").strip() or row["label"].strip()
            path = folder / row["path"]
            speaker = (row.get("speaker_hash") or "").strip() or speaker_of(path) or path.stem
            clips.append(Clip(str(path), word, speaker))
        return clips
    for word_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if word_dir.name == BACKGROUND_NOISE:
            continue
        for path in audio_files(word_dir):
            word = (_spoken_word(path) if word_dir.name == UNKNOWN else None) or word_dir.name
            clips.append(Clip(str(path), word, speaker_of(path) or path.stem))
    return clips


def official_split(root, clips: Iterable[Clip]) -> dict[str, list[Clip]]:
    """Speech Commands' own split from ``validation_list.txt`` / ``testing_list.txt``.

    Clips in neither list (and generated silence crops) go to ``train``.
    """
    folder = _check_folder(root, "official_split")
    listed = {}
    for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        path = folder / name
        if not path.is_file():
            raise ConfigError(f"official_split: {path} does not exist; use split_by_speaker instead")
        for line in path.read_text().split():
            listed[os.path.normpath(folder / line)] = split
    out: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    for clip in clips:
        out[listed.get(os.path.normpath(clip.path), "train")].append(clip)
    return out

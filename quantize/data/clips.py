"""Training data as users have it: folders, Speech Commands, CSV manifests.

Every loader returns a list of :class:`Clip` (a file and what it is); nothing
is decoded until :func:`load_features`. Loaders check the layout up front and
raise ``ConfigError`` naming the folder, label or column at fault, so a bad
dataset fails before any training starts.

Unreadable audio is skipped and reported, not fatal: one corrupt file in a
5000-file dataset should not kill a run. :func:`load_features` logs each
skipped file by name and returns them in ``Features.skipped``; it raises
``AudioError`` only when more than ``max_skipped_fraction`` of the clips are
unreadable (then the data, not one file, is broken).

Typical use, with synthetic speech and augmentation::

    clips = from_speech_commands("speech_commands", keywords=["yes", "no"])
    clips += synthesize(["yes", "no"], "cache/tts", variants_per_word=40)   # quantize.data.tts
    splits = split_by_speaker(cap_unknown(clips))
    labels = ["_silence_", "_unknown_", "no", "yes"]
    x, y = load_features(splits["train"], FrontEndConfig(), labels=labels,
                         augment=AugmentConfig(noise_dirs=["speech_commands/_background_noise_"]), copies=2)
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import pathlib
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import soundfile

from sdk.audio import fit_length, load_audio
from sdk.errors import AudioError, AuricleError, ConfigError
from sdk.frontend import FrontEndConfig, features

log = logging.getLogger(__name__)

UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND_NOISE = "_background_noise_"
# Suffixes of files libsndfile reads (headerless .raw needs parameters we do not have).
AUDIO_SUFFIXES = (
    frozenset("." + ext.lower() for ext in soundfile.available_formats()) | {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
) - {".raw"}


@dataclass(frozen=True)
class Clip:
    """One training example: a file (or a window of one) and its label.

    ``speaker`` groups clips that must stay in the same split (a person, a TTS
    voice); empty means unknown, and the clip is split by its own path.
    ``start_s`` selects a ``clip_s`` window of a long file (noise crops for the
    silence class); ``None`` means the whole file, centred by ``fit_length``.
    ``gain`` scales the samples after loading.
    """

    path: str
    label: str
    speaker: str = ""
    source: str = "real"
    start_s: float | None = None
    gain: float = 1.0


# ---------------------------------------------------------------- loaders


def _check_folder(root, what: str) -> pathlib.Path:
    folder = pathlib.Path(root)
    if not folder.exists():
        raise ConfigError(f"{what}: folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{what}: {folder} is a file, expected a folder")
    return folder


def audio_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """Audio files (by suffix) directly inside ``folder``, sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


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

    manifest = folder / "labels.csv"
    clips: list[Clip] = []
    if manifest.is_file():
        columns, rows = _read_csv(manifest)
        if not {"path", "label"} <= set(columns):
            raise ConfigError(f"from_speech_commands: {manifest} needs columns path,label; has {columns}")
        for row in rows:
            word = (row.get("spoken_word") or "").strip() or row["label"].strip()
            label = relabel(word)
            if label is None:
                continue
            path = folder / row["path"]
            speaker = (row.get("speaker_hash") or "").strip() or speaker_of(path) or path.stem
            clips.append(Clip(str(path), label, speaker, "noise" if label == SILENCE else "real"))
        missing = [c.path for c in clips if not os.path.isfile(c.path)]
        if missing:
            raise ConfigError(f"from_speech_commands: {manifest} lists {len(missing)} missing file(s), e.g. {missing[:3]}")
    else:
        for word_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if word_dir.name == BACKGROUND_NOISE:
                continue
            for path in audio_files(word_dir):
                word = (_spoken_word(path) if word_dir.name == UNKNOWN else None) or word_dir.name
                label = relabel(word)
                if label is None:
                    continue
                speaker = speaker_of(path) or path.stem
                clips.append(Clip(str(path), label, speaker, "noise" if label == SILENCE else "real"))

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


# ------------------------------------------------------- silence, balance


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


# ----------------------------------------------------------------- splits


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


# --------------------------------------------------------------- features


class Features(tuple):
    """``(X, y)`` from :func:`load_features`, with what happened on the way.

    Unpacks as ``X, y = load_features(...)``. ``X``: float32
    ``(n, frames, features)``; ``y``: int64 ``(n,)`` indices into ``labels``.
    ``clip_index[i]`` is the position in the input clips of row ``i``;
    ``skipped`` lists ``(path, reason)`` of unreadable files; ``cropped``
    lists ``(path, duration_s)`` of files longer than the clip window (their
    centre was kept).
    """

    def __new__(cls, x, y, *, labels, clip_index, skipped, cropped):
        self = super().__new__(cls, (x, y))
        self.labels, self.clip_index, self.skipped, self.cropped = list(labels), clip_index, skipped, cropped
        return self

    @property
    def x(self) -> np.ndarray:
        return self[0]

    @property
    def y(self) -> np.ndarray:
        return self[1]

    def summary(self) -> dict:
        """JSON-ready counts for a run report."""
        return {
            "examples": int(self[1].shape[0]),
            "per_label": {label: int(np.sum(self[1] == i)) for i, label in enumerate(self.labels)},
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped],
            "cropped_files": len(self.cropped),
        }


def load_clip_audio(clip: Clip, sample_rate: int, clip_samples: int, *, decoded: dict | None = None) -> tuple[np.ndarray, float]:
    """Samples of one clip, fitted to ``clip_samples``, and the source duration in s.

    ``decoded`` caches whole decoded files by path (noise files are cropped
    many times).
    """
    if decoded is not None and clip.path in decoded:
        samples = decoded[clip.path]
    else:
        samples = load_audio(clip.path, sample_rate)
        if decoded is not None and clip.start_s is not None:
            decoded[clip.path] = samples
    duration_s = samples.shape[0] / sample_rate
    if clip.start_s is not None:
        start = int(round(clip.start_s * sample_rate))
        samples = samples[start : start + clip_samples]
        duration_s = samples.shape[0] / sample_rate
    samples = fit_length(samples, clip_samples)
    if clip.gain != 1.0:
        samples = samples * np.float32(clip.gain)
    return samples, duration_s


def load_features(
    clips: Sequence[Clip],
    frontend: FrontEndConfig,
    *,
    labels: Sequence[str] | None = None,
    augment=None,
    copies: int = 1,
    seed: int = 0,
    max_skipped_fraction: float = 0.05,
    progress: Callable[[int], None] | None = None,
    keep_audio: bool = False,
) -> Features:
    """Decode, fit to ``frontend.clip_s``, augment, and compute features.

    Parameters
    ----------
    clips : sequence of Clip
    frontend : FrontEndConfig
        Audio is loaded at ``frontend.sample_rate`` (soxr) and fitted to
        ``frontend.clip_samples`` (centred pad or crop).
    labels : sequence of str, optional
        Class order for ``y``; default: sorted labels of ``clips``.
    augment : callable ``(samples, rng) -> samples`` or AugmentConfig, optional
        Waveform augmentation (``quantize.data.augment.Augmenter``) applied to
        every copy; an ``AugmentConfig`` is turned into an ``Augmenter``.
    copies : int
        Rows per clip (each differently augmented). Rows of one clip are
        adjacent.
    seed : int
        Copy ``k`` of clip ``i`` uses ``default_rng([seed, i, k])``, so
        results do not depend on order or batching.
    max_skipped_fraction : float
        Unreadable files are skipped and reported; more than this fraction
        of ``clips`` unreadable raises ``AudioError``. Judge it over the whole
        data set, not small chunks, or one bad file fails a small chunk.
    progress : callable ``(clips_done) -> None``, optional
        Called every 64 clips and at the end, e.g. to advance a progress bar.
    keep_audio : bool
        Also keep each row's (augmented) samples as ``.audio``, float32
        ``(n, frontend.clip_samples)``, e.g. for a teacher that hears the
        same audio as the student.

    Returns
    -------
    Features
        Unpacks to ``X`` float32 ``(n, frontend.clip_frames, frontend.num_features)``
        and ``y`` int64 ``(n,)``; also ``.labels``, ``.skipped``, ``.cropped``.
    """
    if copies < 1:
        raise ConfigError(f"load_features: copies={copies} must be >= 1")
    clips = list(clips)
    if not clips:
        raise ConfigError("load_features: no clips to load")
    labels = list(labels) if labels is not None else sorted({c.label for c in clips})
    index_of = {label: i for i, label in enumerate(labels)}
    unknown = sorted({c.label for c in clips} - set(index_of))
    if unknown:
        raise ConfigError(f"load_features: clip label(s) {unknown} are not in labels={labels}")
    if augment is not None and not callable(augment):
        from quantize.data.augment import Augmenter  # local: augment imports this module

        augment = Augmenter(augment, frontend.sample_rate, seed)

    rows, ys, clip_index, skipped, cropped, audio_rows = [], [], [], [], [], []
    decoded: dict = {}
    limit_s = frontend.clip_samples / frontend.sample_rate
    for i, clip in enumerate(clips):
        if progress is not None and i and i % 64 == 0:
            progress(i)
        try:
            samples, duration_s = load_clip_audio(clip, frontend.sample_rate, frontend.clip_samples, decoded=decoded)
        except AuricleError as exc:
            log.warning("skipping unreadable clip: %s", exc)
            skipped.append((clip.path, str(exc)))
            continue
        if duration_s > limit_s + 1e-3:
            cropped.append((clip.path, duration_s))
        for k in range(copies):
            audio = samples
            if augment is not None:
                audio = augment(samples, np.random.default_rng([seed, i, k]))
            rows.append(features(audio, config=frontend))
            if keep_audio:
                audio_rows.append(np.asarray(audio, np.float32))
            ys.append(index_of[clip.label])
            clip_index.append(i)
    if progress is not None:
        progress(len(clips))
    if len(skipped) > max_skipped_fraction * len(clips):
        raise AudioError(
            f"load_features: {len(skipped)} of {len(clips)} files are unreadable (more than "
            f"max_skipped_fraction={max_skipped_fraction}), e.g. {skipped[0][1]}"
        )
    if skipped:
        log.warning("load_features: skipped %d of %d unreadable files", len(skipped), len(clips))
    if cropped:
        log.info("load_features: %d files longer than %.2f s were centre-cropped", len(cropped), limit_s)
    x = np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, frontend.clip_frames, frontend.num_features), np.float32)
    result = Features(
        x, np.asarray(ys, np.int64), labels=labels, clip_index=np.asarray(clip_index, np.int64), skipped=skipped, cropped=cropped
    )
    result.audio = np.stack(audio_rows) if keep_audio and audio_rows else None
    return result


def label_counts(clips: Iterable[Clip]) -> dict[str, int]:
    """Clips per label, sorted by label."""
    return dict(sorted(Counter(c.label for c in clips).items()))


def relabel(clips: Iterable[Clip], mapping: Mapping[str, str] | Callable[[str], str]) -> list[Clip]:
    """Clips with labels mapped (e.g. digits to words); unmapped labels are kept."""
    fn = mapping if callable(mapping) else (lambda label: mapping.get(label, label))
    return [replace(c, label=fn(c.label)) for c in clips]

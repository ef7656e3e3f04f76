"""Clips to feature windows: decode, fit to the clip length, augment, front end.

Unreadable audio is skipped and reported, not fatal: one corrupt file in a
5000-file dataset should not kill a run. :func:`load_features` logs each
skipped file by name and returns them in ``Features.skipped``; it raises
``AudioError`` only when more than ``max_skipped_fraction`` of the clips are
unreadable (then the data, not one file, is broken).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from quantize.data.clips import Clip
from sdk.audio import fit_length, load_audio
from sdk.errors import AudioError, AuricleError, ConfigError
from sdk.frontend import FrontEndConfig, features

log = logging.getLogger(__name__)


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
    clips, labels, index_of = _check(clips, labels, copies)
    if augment is not None and not callable(augment):
        from quantize.data.augment import Augmenter  # scipy: only when augmenting

        augment = Augmenter(augment, frontend.sample_rate, seed)

    rows, ys, clip_index, skipped, cropped, audio_rows = _rows(clips, frontend, index_of, augment, copies, seed,
                                                              progress, keep_audio)
    _report(len(clips), skipped, cropped, max_skipped_fraction, frontend.clip_samples / frontend.sample_rate)
    empty = np.zeros((0, frontend.clip_frames, frontend.num_features), np.float32)
    result = Features(np.stack(rows).astype(np.float32, copy=False) if rows else empty, np.asarray(ys, np.int64),
                      labels=labels, clip_index=np.asarray(clip_index, np.int64), skipped=skipped, cropped=cropped)
    result.audio = np.stack(audio_rows) if keep_audio and audio_rows else None
    return result


def _check(clips, labels, copies: int):
    """``(clips, labels, label -> index)``; ``ConfigError`` for no clips, bad ``copies`` or a clip label not in ``labels``."""
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
    return clips, labels, index_of


def _report(count: int, skipped, cropped, max_skipped_fraction: float, limit_s: float) -> None:
    """Log what was skipped or cropped; ``AudioError`` when too many files are unreadable."""
    if len(skipped) > max_skipped_fraction * count:
        raise AudioError(
            f"load_features: {len(skipped)} of {count} files are unreadable (more than "
            f"max_skipped_fraction={max_skipped_fraction}), e.g. {skipped[0][1]}"
        )
    if skipped:
        log.warning("load_features: skipped %d of %d unreadable files", len(skipped), count)
    if cropped:
        log.info("load_features: %d files longer than %.2f s were centre-cropped", len(cropped), limit_s)


def _rows(clips, frontend, index_of, augment, copies, seed, progress, keep_audio):
    """The per-clip loop of :func:`load_features`: feature rows and what was skipped or cropped."""
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
    return rows, ys, clip_index, skipped, cropped, audio_rows

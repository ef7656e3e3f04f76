"""Hard negatives: the windows of long audio without the keyword where a model fires.

A wake-word model learns what its phrase is not from what it gets wrong. Run
the current model over hours of negative audio (talk, television, music), take
each window it fires on as a new ``_unknown_`` clip, retrain, repeat. The
events are the Detector's own (smoothing, hits in a row, refractory), so what
is mined is exactly what would have woken a device.
"""
from __future__ import annotations

import logging
import pathlib
from typing import Sequence

import numpy as np

from quantize.data.clips import Clip
from quantize.data.labels import UNKNOWN
from sdk.audio import load_audio
from sdk.bundle import Bundle
from sdk.det import EventRule
from sdk.detector import Detector
from sdk.errors import AudioError, ConfigError
from sdk.stream_eval import trace_scores

log = logging.getLogger(__name__)


def mine(bundle: Bundle, files: Sequence[str | pathlib.Path], *, threshold: float, max_clips: int | None = None,
         label: str = UNKNOWN) -> list[Clip]:
    """One clip per false event in ``files`` (the window that ended at it), loudest score first.

    Files that cannot be read are skipped with the reason collected; if none
    can be read, :class:`~sdk.errors.AudioError` names them.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"mine: threshold={threshold!r} must be in (0, 1]")
    detector = Detector(bundle, threshold=threshold)
    rule = EventRule.of(detector)
    rate, clip_s = bundle.frontend.sample_rate, bundle.frontend.clip_s
    columns = {name: k for k, name in enumerate(rule.labels)}
    found, unreadable = [], []
    for path in files:
        try:
            samples = load_audio(path, rate)
        except AudioError as exc:
            unreadable.append(str(exc))
            continue
        trace = trace_scores(detector, samples, rate)
        for name, time_s in rule.events(trace, threshold):
            hop = min(int(np.searchsorted(trace.times_s, time_s)), len(trace.times_s) - 1)
            score = float(trace.posteriors[hop, columns[name]])
            start = max(0.0, time_s - clip_s)
            found.append((score, Clip(str(path), label, f"mined:{pathlib.Path(path).stem}", "mined", start)))
    if unreadable and len(unreadable) == len(files):
        raise AudioError("mine: no file could be read: " + "; ".join(unreadable[:5]))
    for reason in unreadable:
        log.warning("mine: skipped %s", reason)
    found.sort(key=lambda item: -item[0])
    return [clip for _, clip in found[:max_clips]]

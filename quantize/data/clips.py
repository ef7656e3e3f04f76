"""A training clip: a file (or a window of one), its label and its speaker.

Loaders (:mod:`quantize.data.sources`) return lists of :class:`Clip`;
nothing is decoded until :func:`quantize.data.windows.load_features`.

Typical use, with synthetic speech and augmentation::

    clips = from_speech_commands("speech_commands", keywords=["yes", "no"])   # quantize.data.sources
    clips += synthesize(["yes", "no"], "cache/tts", variants_per_word=40)     # quantize.data.tts
    splits = split_by_speaker(cap_unknown(clips))                              # quantize.data.balance
    labels = ["_silence_", "_unknown_", "no", "yes"]
    x, y = load_features(splits["train"], FrontEndConfig(), labels=labels,    # quantize.data.windows
                         augment=AugmentConfig(noise_dirs=["speech_commands/_background_noise_"]), copies=2)
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Mapping


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



def label_counts(clips: Iterable[Clip]) -> dict[str, int]:
    """Clips per label, sorted by label."""
    return dict(sorted(Counter(c.label for c in clips).items()))


def relabel(clips: Iterable[Clip], mapping: Mapping[str, str] | Callable[[str], str]) -> list[Clip]:
    """Clips with labels mapped (e.g. digits to words); unmapped labels are kept."""
    fn = mapping if callable(mapping) else (lambda label: mapping.get(label, label))
    return [replace(c, label=fn(c.label)) for c in clips]

"""The two labels every keyword model may have besides its keywords.

``_unknown_`` is other speech (words that are not keywords), ``_silence_`` is
no speech (noise, quiet). Both are background: a detector never reports them
as events, and an artifact's head lists them as such.
"""
from __future__ import annotations

UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND = (UNKNOWN, SILENCE)


def background_of(labels) -> tuple[str, ...]:
    """The labels of ``labels`` that are background, in their order."""
    return tuple(label for label in labels if label in BACKGROUND)

"""Which clips a training recipe holds out: its own speaker split, computed by the pipeline.

The benchmark scores every model on the clips that a recipe's split calls
``test``, so the set is the training pipeline's, not a copy of its logic:
same sources, same speakers, same seed. Generated silence and TTS clips are
not audio files of the benchmark's data, so only file sources count here.
No unknown-class capping: every clip of a held-out speaker is scored.

Caveat: ``quantize.data.balance.split_by_speaker`` places speakers by the order of the
``data.split`` keys. A recipe read back from an artifact's provenance (JSON
with sorted keys) has lost that order, so :func:`split_paths` puts such a
dict's keys back in the order recipe files use: train, val, test.
"""
from __future__ import annotations

import os

from sdk.errors import ConfigError


def split_paths(recipe) -> dict[str, set[str]]:
    """``{"train", "val", "test"}`` -> normalized paths of the recipe's file-source clips.

    ``recipe``: a recipe file, a built-in name, a dict (e.g. the resolved recipe
    an artifact's provenance carries) or a ``quantize.recipe.Recipe``.
    """
    try:
        from quantize.data import splits
        from quantize import recipe as qrecipe
    except ImportError as exc:
        raise ConfigError(f"held-out split: the training pipeline (quantize.pipeline) is not available ({exc})") from None
    parsed = qrecipe.load(recipe)
    out: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for _, source, clips in splits.read_sources(parsed):
        for split, part in splits.split_source(clips, source.role, parsed).items():
            out[split] |= {os.path.normpath(c.path) for c in part}
    return out


def heldout_paths(recipe) -> set[str]:
    """Normalized paths of the clips the recipe's speaker split calls ``test``."""
    return split_paths(recipe)["test"]

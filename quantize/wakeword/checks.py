"""Checks of a wake-word recipe that need the machine: can each engine say each phrase, is there negative audio."""
from __future__ import annotations

import pathlib
import tempfile

from quantize.recipe import Recipe
from sdk.errors import ConfigError


def check(recipe: Recipe) -> None:
    """``ConfigError`` naming the ``wakeword.*`` key: an unsayable phrase, or no negative folder at all."""
    section = recipe.wakeword
    where = recipe.source
    present = [n for n in section.negatives if recipe.resolve_path(n.path).is_dir()]
    for i, negatives in enumerate(section.negatives):
        folder = recipe.resolve_path(negatives.path)
        if not folder.is_dir() and not negatives.optional:
            raise ConfigError(f"{where}: wakeword.negatives[{i}]: folder {folder} does not exist "
                              f"(from path {negatives.path!r}; set optional: true to skip it when absent)")
    if not present:
        raise ConfigError(f"{where}: wakeword.negatives: none of the {len(section.negatives)} folders exists "
                          f"({', '.join(str(recipe.resolve_path(n.path)) for n in section.negatives)}); a wake word "
                          "needs real audio without the phrase (set AURICLE_DATA or give your own folders)")
    for i, phrase in enumerate(section.phrases):
        _check_sayable(phrase, section.engines, f"{where}: wakeword.phrases[{i}]")


def _check_sayable(phrase: str, engines, where: str) -> None:
    """Speak the phrase once with each engine's first voice; ConfigError naming the engines that cannot."""
    from quantize.data import tts

    failed = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            variant = tts.plan_variants(phrase, 1, engines=[engine])[0]
            try:
                tts.synthesize_one(tts.check_text(phrase), variant, pathlib.Path(tmp))
            except ConfigError as exc:
                failed[engine] = str(exc)
    if len(failed) == len(engines):
        raise ConfigError(f"{where}={phrase!r}: no TTS engine can say it: " + "; ".join(failed.values()))
    if failed:
        raise ConfigError(f"{where}={phrase!r}: {', '.join(failed)} cannot say it ({'; '.join(failed.values())}); "
                          f"remove {'it' if len(failed) == 1 else 'them'} from wakeword.engines")

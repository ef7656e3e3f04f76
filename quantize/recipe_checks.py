"""Checks of what a recipe points at, before any work: folders, TTS engines, teacher, model.

``quantize.recipe.load`` checks a recipe's keys and values; :func:`validate`
checks the world behind them, cheaply (paths, names, engines). Loading the
clip lists happens in ``quantize.data.splits.list_clips``, which also raises
``ConfigError`` for a label without audio.
"""
from __future__ import annotations

import shutil

from quantize.data.negatives import check_text
from quantize.recipe import TTS_COMMANDS, Recipe
from sdk.errors import ConfigError


def validate(recipe: Recipe) -> None:
    """``ConfigError`` naming the recipe file and key for the first thing that is missing or unusable."""
    where = recipe.source
    _check_frontend_and_augment(recipe, where)
    for i, source in enumerate(recipe.data.sources):
        key = f"data.sources[{i}] ({source.kind})"
        if source.kind == "tts":
            _check_tts(recipe, source, where, key)
            continue
        path = recipe.resolve_path(source.path)
        if source.kind == "manifest":
            if not path.is_file():
                raise ConfigError(f"{where}: {key}: manifest {path} does not exist (from path {source.path!r})")
        elif not path.is_dir() and not (source.kind == "background" and source.optional):
            hint = " (set AURICLE_DATA to the shared data folder)" if "AURICLE_DATA" in source.path else ""
            raise ConfigError(f"{where}: {key}: folder {path} does not exist (from path {source.path!r}){hint}")
    if recipe.wakeword is not None:
        from quantize.wakeword.checks import check

        check(recipe)
    if recipe.teacher is not None:
        from quantize.transfer.teacher import model_files

        model_files()  # ConfigError naming the extra when pyopen-wakeword is missing
        for i, source in enumerate(recipe.teacher.unlabelled):
            path = recipe.resolve_path(source.path)
            if not path.is_dir() and not source.optional:
                raise ConfigError(f"{where}: teacher.unlabelled[{i}]: folder {path} does not exist "
                                  f"(from path {source.path!r}; set optional: true to skip it when absent)")
    from quantize.train import zoo  # TensorFlow: only once the cheap checks pass

    try:
        zoo.check_params(recipe.model.name, recipe.model.params)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    from quantize.export import embedding_stage, streaming_stage

    streaming_stage.check(recipe)  # a streaming artifact from a model that cannot stream: refused now
    embedding_stage.check(recipe)


def _check_frontend_and_augment(recipe: Recipe, where: str) -> None:
    try:
        recipe.frontend_config()
    except ConfigError as exc:
        raise ConfigError(f"{where}: frontend: {exc}") from None
    if not isinstance(recipe.augment, dict):
        try:
            recipe.augment_config()
        except ConfigError as exc:
            raise ConfigError(f"{where}: augment: {exc}") from None
    for noise_dir in (recipe.augment if isinstance(recipe.augment, dict) else recipe.augment.model_dump()).get(
        "noise_dirs", []
    ):
        if not recipe.resolve_path(noise_dir).is_dir():
            raise ConfigError(f"{where}: augment.noise_dirs: folder {recipe.resolve_path(noise_dir)} does not exist")


def _check_tts(recipe: Recipe, source, where: str, key: str) -> None:
    for engine in source.engines:
        if shutil.which(TTS_COMMANDS[engine]) is None:
            raise ConfigError(
                f"{where}: {key}: TTS engine {engine!r} is not installed "
                f"(no {TTS_COMMANDS[engine]!r} on PATH; apt-get install {engine})"
            )
    for word in source.words or recipe.data.keywords:
        text = recipe.data.say.get(word, word)
        try:
            check_text(text)
        except ConfigError:
            raise ConfigError(
                f"{where}: {key}: the TTS cannot speak keyword {word!r} (text {text!r}); "
                f"give the letters to say with data.say: {{{word!r}: 'spoken text'}}"
            ) from None

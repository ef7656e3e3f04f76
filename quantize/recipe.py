"""Training recipes: typed, checked before any work, saved as resolved.

A recipe is a YAML file (read with ``yaml.safe_load``) validated by the
pydantic models below. Every section forbids unknown keys, so a typo
(``epoch:`` for ``epochs:``) is an error naming the file and the key, not a
silently ignored setting. ``resolve`` fills every default; the run folder gets
that resolved form as ``recipe.yaml``, so the saved file is what ran.

Paths
-----
Data paths may use environment variables. ``$AURICLE_DATA`` (or
``${AURICLE_DATA}``) is the shared data folder; when the variable is unset it
means ``<repository>/../shared/data``. Other relative paths are relative to
the recipe file's folder.

Source roles
------------
``all`` clips are split by speaker into train / val / test (``data.split``);
``train`` clips only train (e.g. synthetic speech, so the test stays real
speech); ``fit`` clips are split by speaker into train / val only; ``eval`` keeps only the val and test parts of that same speaker
split and ``test`` only its test part, so an ablation that drops a source
from training is still tested on exactly the same clips.

Synthesized speech is cached in ``<run>/tts``; set ``AURICLE_TTS_CACHE`` to a
folder to share the cache between runs (files are named by a hash of what
made them, so sharing is safe).
"""
from __future__ import annotations

import os
import pathlib
import re
from typing import Literal, Optional

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quantize.data import data_root
from quantize.data.labels import SILENCE, UNKNOWN
from quantize.train.plan import FitPlan
from quantize.recipe_sections import Augment, Detection, FrontEnd  # noqa: F401  (sections of a Recipe)
from quantize.wakeword.settings import Wakeword
from sdk.bundle import DetectionDefaults
from sdk.errors import ConfigError
from sdk.frontend import FrontEndConfig

RECIPES_DIR = pathlib.Path(__file__).resolve().parent / "recipes"
TTS_COMMANDS = {"espeak-ng": "espeak-ng", "espeak": "espeak-ng", "flite": "flite", "festival": "text2wave"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Source(_Strict):
    """One place clips come from."""

    kind: Literal["speech_commands", "folders", "manifest", "tts", "background"]
    path: Optional[str] = None  # folder (speech_commands, folders) or CSV (manifest); not for tts
    role: Literal["all", "train", "fit", "eval", "test"] = "all"
    # speech_commands: which of its words are keywords (default: data.keywords); others are _unknown_
    keywords: Optional[list[str]] = None
    include_unknown: bool = True
    include_silence: bool = True
    # manifest
    label_column: str = "label"
    path_column: str = "path"
    speaker_column: Optional[str] = None
    # folders / manifest: rename labels, e.g. {"0": "zero"}; labels not in data.keywords become _unknown_
    label_map: dict[str, str] = Field(default_factory=dict)
    # tts: words to speak (default: data.keywords), how many voices/variants per word, engines
    words: Optional[list[str]] = None
    unknown_words: int = Field(0, ge=0)  # also speak this many everyday words (as _unknown_)
    near_misses: bool = False  # also speak near_miss_count near misses of each keyword (as _unknown_)
    near_miss_count: int = Field(5, ge=1)
    unknown_variants_per_word: int = Field(3, ge=1)  # voices per unknown word / near miss
    sentences: int = Field(0, ge=0)  # also speak this many runs of 2-4 everyday words (as _unknown_), a voice each
    variants_per_word: int = Field(20, ge=1)
    engines: list[str] = Field(default_factory=lambda: ["espeak-ng", "flite", "festival"])
    max_clips_per_label: Optional[int] = Field(None, ge=1)  # background: windows taken from its train files
    # background (long audio without keywords, as _unknown_ windows): shares of its files kept from training
    held_back: float = Field(0.0, ge=0, lt=1)  # for calibration
    held_out: float = Field(0.0, ge=0, lt=1)  # for evaluation only
    optional: bool = False  # background: skip, with a warning, when the folder is absent

    @model_validator(mode="after")
    def _path_matches_kind(self):
        if self.kind == "tts":
            if self.path is not None:
                raise ValueError("a tts source takes no path")
            unknown = sorted(set(self.engines) - set(TTS_COMMANDS))
            if unknown or not self.engines:
                raise ValueError(f"engines={self.engines}: unknown engine(s) {unknown}; known: {sorted(TTS_COMMANDS)}")
        elif not self.path:
            raise ValueError(f"a {self.kind} source needs a path")
        return self


class Data(_Strict):
    keywords: list[str] = Field(min_length=1)
    unknown: bool = True  # add an _unknown_ class (other words)
    silence: bool = True  # add a _silence_ class (noise, no speech)
    sources: list[Source] = Field(min_length=1)
    # spoken text for a label when it is not the label itself, e.g. {"0": "zero"} (TTS)
    say: dict[str, str] = Field(default_factory=dict)
    split: dict[str, float] = Field(default_factory=lambda: {"train": 0.7, "val": 0.1, "test": 0.2})
    # datasets with few speakers: these speakers are the test split, the others are split
    # by clip into train / val (val then shares speakers with train; test never does)
    test_speakers: list[str] = Field(default_factory=list)
    unknown_max_ratio: float = Field(1.5, ge=0)  # _unknown_ clips at most this x the mean keyword count
    silence_count: Optional[int] = Field(None, ge=1)  # silence crops when no source gives silence
    train_copies: int = Field(2, ge=1)  # differently augmented copies of each training clip

    @field_validator("keywords", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value):
        if isinstance(value, list):
            bools = [v for v in value if isinstance(v, bool)]
            if bools:
                raise ValueError(
                    f"keywords {value} hold booleans: YAML reads unquoted yes/no/on/off as true/false; "
                    "quote them: [\"yes\", \"no\"]"
                )
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords_unique(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"keywords {value} repeat")
        reserved = sorted({UNKNOWN, SILENCE} & set(value))
        if reserved:
            raise ValueError(f"{reserved} are reserved; use data.unknown / data.silence")
        return value

    @field_validator("split")
    @classmethod
    def _split_names(cls, value):
        if set(value) != {"train", "val", "test"}:
            raise ValueError(f"split needs exactly train, val and test fractions, got {sorted(value)}")
        if any(f < 0 for f in value.values()) or abs(sum(value.values()) - 1) > 1e-6 or value["train"] <= 0:
            raise ValueError(f"split fractions {value} must be >= 0, train > 0, and sum to 1")
        return value

    @property
    def labels(self) -> list[str]:
        return list(self.keywords) + ([UNKNOWN] if self.unknown else []) + ([SILENCE] if self.silence else [])


class ModelSpec(_Strict):
    name: str = "ds_cnn_s"
    params: dict = Field(default_factory=dict)


class Train(FitPlan):
    """The ``train:`` section: a ``FitPlan`` (``quantize.train.plan``) with the float model's
    defaults, and what only the classifier's data pipeline reads."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    epochs: int = Field(30, ge=1)
    optimizer: Literal["adam", "adamw"] = "adamw"
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-3, ge=0)  # adamw only
    warmup_epochs: float = Field(1.0, ge=0)
    min_lr_fraction: float = Field(0.02, ge=0, le=1)  # cosine ends at lr x this
    early_stopping_patience: int = Field(10, ge=0)  # epochs without val accuracy gain; 0 = off
    grad_clip_norm: Optional[float] = Field(5.0, gt=0)
    deterministic: bool = True  # tf op determinism (slower on some ops)
    seed: Optional[int] = None  # None: the recipe's seed
    label_smoothing: float = Field(0.05, ge=0, lt=1)
    class_weights: Literal["none", "balanced"] = "balanced"
    spec_augment: bool = True


class Export(_Strict):
    # streaming_int8: the same model as a stateful streaming artifact (quantize.export.streaming_stage)
    # embedding_int8: the teacher head on the speech-embedding front end (quantize.export.embedding_stage)
    modes: list[Literal["int8", "float16", "float32", "streaming_int8", "embedding_int8"]] = Field(
        default_factory=lambda: ["int8", "float16", "float32"])
    calibration_size: int = Field(500, ge=1)

    @field_validator("modes")
    @classmethod
    def _modes_unique(cls, value):
        if not value or len(set(value)) != len(value):
            raise ValueError(f"modes {value} must be non-empty without repeats")
        return value


class Unlabelled(_Strict):
    """Real audio without labels: the teacher's soft targets are its only label."""

    path: str  # a folder of audio files (searched recursively)
    max_windows: int = Field(2000, ge=1)  # clip-length windows taken from it (random offsets, seeded)
    optional: bool = False  # skip, with a warning, when the folder is absent


class Teacher(_Strict):
    """Distil from Google's speech embedding (``quantize.transfer.teacher``): a head on the
    embedding is trained first, then the student learns its soft targets."""

    context_s: float = Field(1.25, ge=1.0, le=3.0)  # the clip, centred in silence, as the teacher hears it
    head: dict = Field(default_factory=dict)  # params of the zoo's embedding_head
    epochs: int = Field(40, ge=1)  # teacher head training
    lr: float = Field(2e-3, gt=0)
    temperature: float = Field(2.0, gt=0)
    alpha: float = Field(0.7, ge=0, le=1)  # weight of the teacher's soft targets; 1 - alpha for the labels
    unlabelled: list[Unlabelled] = Field(default_factory=list)
    compare_scratch: bool = True  # also train the student without the teacher, for the report
    filter_below: float = Field(0.0, ge=0, lt=1)  # drop training windows the teacher gives under this for their label
    hint_epochs: int = Field(0, ge=0)  # first train the student's trunk to predict the embedding (quantize.transfer.hint); 0: off


class Recipe(_Strict):
    name: str = "kws"
    seed: int = 0
    data: Data
    frontend: FrontEnd = Field(default_factory=FrontEnd)  # type: ignore[valid-type]
    augment: Augment = Field(default_factory=Augment)  # type: ignore[valid-type]
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: Train = Field(default_factory=Train)
    export: Export = Field(default_factory=Export)
    detection: Detection = Field(default_factory=Detection)  # type: ignore[valid-type]
    teacher: Optional[Teacher] = None  # distil from the speech-embedding teacher (quantize.transfer.teacher)
    wakeword: Optional[Wakeword] = None  # a wake-word recipe; this section wrote data: (quantize.wakeword.settings)
    compress: Optional[list] = None  # stages applied after training, in order (quantize.compress.recipe)
    source: str = Field("<memory>", exclude=True)  # the file it came from (for messages and relative paths)

    @field_validator("compress")
    @classmethod
    def _check_compress(cls, value):
        if value is not None:
            from quantize.compress.recipe import parse

            parse(value)  # ConfigError (a ValueError) names the stage and option at fault
        return value

    @property
    def labels(self) -> list[str]:
        return self.data.labels

    def frontend_config(self) -> FrontEndConfig:
        return FrontEndConfig(**self.frontend.model_dump())

    def augment_config(self):
        from quantize.data.augment import AugmentConfig

        values = self.augment if isinstance(self.augment, dict) else self.augment.model_dump()
        values = dict(values)
        values["noise_dirs"] = [str(self.resolve_path(p)) for p in values.get("noise_dirs", [])]
        if self.wakeword is not None and not values["noise_dirs"] and not values.get("noise_files"):
            values["noise_files"] = self._wakeword_noise()
        return AugmentConfig(**values)

    def _wakeword_noise(self) -> list[str]:
        """A wake word's training noise: its negatives' train files (never the calibration or held-out ones),
        in a seeded order, so positives are heard over real talk, music and noise."""
        import numpy as np

        from quantize.wakeword.background import negative_files

        return [str(f) for f in np.random.default_rng(self.seed).permutation(negative_files(self, "train"))]

    def detection_defaults(self) -> DetectionDefaults:
        return DetectionDefaults(**self.detection.model_dump())

    def resolve_path(self, path: str) -> pathlib.Path:
        """Expand ``$AURICLE_DATA`` (default ``<repo>/../shared/data``) and other variables;
        relative paths are relative to the recipe's folder."""
        env = dict(os.environ)
        env.setdefault("AURICLE_DATA", str(data_root()))
        expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), path)
        resolved = pathlib.Path(expanded).expanduser()
        if not resolved.is_absolute():
            base = pathlib.Path(self.source).parent if self.source != "<memory>" else pathlib.Path.cwd()
            resolved = base / resolved
        return resolved

    def resolved(self) -> dict:
        """Every setting, defaults filled, as plain data (what ``recipe.yaml`` in a run holds)."""
        return self.model_dump(mode="json")

    def dump(self, path) -> None:
        with open(path, "w") as f:
            f.write(f"# resolved from {self.source}: every default filled in; this is what ran\n")
            yaml.safe_dump(self.resolved(), f, sort_keys=False)


def _format_errors(source: str, exc: pydantic.ValidationError, prefix: tuple = ()) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see quantize/recipes/default.yaml)"
        elif err["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{where}: {message}")
    return f"{source}: invalid recipe: " + "; ".join(lines)


def _same_data(given: dict, written: dict) -> bool:
    try:
        return Data(**given).model_dump() == Data(**written).model_dump()
    except (pydantic.ValidationError, TypeError):
        return False


def builtin_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def load(recipe) -> Recipe:
    """A ``Recipe`` from a path, a built-in name (``default``), a dict, or a ``Recipe``.

    Only parses and checks types; ``quantize.recipe_checks.validate`` checks the data behind it.
    """
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        source, values = "<dict>", dict(recipe)
    else:
        path = pathlib.Path(recipe)
        if not path.exists() and (RECIPES_DIR / f"{recipe}.yaml").is_file():
            path = RECIPES_DIR / f"{recipe}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"{recipe}: no such recipe file (built-in recipes: {', '.join(builtin_recipes())})"
            )
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a recipe must be a YAML mapping (name:, data:, model:, ...)")
        source = str(path)
    values.pop("source", None)
    if values.get("wakeword") is not None:  # a wake-word recipe: its section writes data:, model: and export:
        from quantize.wakeword.settings import expand

        given = values.pop("data", None)
        try:
            values = expand(values)
        except pydantic.ValidationError as exc:
            raise ConfigError(_format_errors(source, exc, prefix=("wakeword",))) from None
        if given is not None and not _same_data(given, values["data"]):  # a run's recipe.yaml holds both
            raise ConfigError(f"{source}: a wake-word recipe writes data: from wakeword:; remove the data: section")
    try:
        parsed = Recipe(**values)
    except pydantic.ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None
    except ConfigError as exc:  # a dataclass's own check (e.g. FrontEndConfig) raised while validating
        raise ConfigError(f"{source}: invalid recipe: {exc}") from None
    return parsed.model_copy(update={"source": source})

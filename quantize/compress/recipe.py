"""The recipe's ``compress:`` section: a list of stages applied in order.

::

    compress:
      - distill: {teacher: runs/teacher, student: {name: ds_cnn_s, params: {filters: 24}}, temperature: 4, alpha: 0.7}
      - prune: {sparsity: 0.75}
      - qat: {epochs: 3}

Each list entry has exactly one key, the stage name. Everything is checked by
:func:`parse` (pydantic, unknown keys refused) before any work starts, and
errors become ``ConfigError`` naming the stage and field. Order rules: ``qat``
and ``ptq`` produce integer models, so nothing that trains may follow them.

Every stage's options are a ``FitPlan`` (``quantize.train.plan``) with the
stage's own defaults: ``epochs``, ``lr`` (or ``learning_rate``),
``batch_size``, ``seed``, ``schedule``, ``grad_clip_norm``,
``best_from_epoch`` ... mean what they mean in the recipe's ``train:``.
"""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from quantize.train.plan import FitPlan

from sdk.errors import ConfigError


class _Stage(FitPlan):
    epochs: int = Field(10, ge=0)  # 0: no fine-tuning (stages that allow it)
    lr: float = Field(1e-3, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))

    def fit_plan(self) -> FitPlan | None:
        """The plan the stage trains by; None when ``epochs`` is 0."""
        return self.plan() if self.epochs > 0 else None


class StudentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    params: dict = Field(default_factory=dict)


class DistillStage(_Stage):
    """Train a student on the teacher's soft targets.

    ``teacher``: run folder(s) whose ``model.keras`` teach (several = an
    ensemble); default: the input run. ``student``: a zoo model to build
    fresh; default: the input run's model, trained on from its weights.
    """

    kind: Literal["distill"] = "distill"
    teacher: Union[str, list[str], None] = None
    student: Optional[StudentSpec] = None
    temperature: float = Field(4.0, gt=0)
    alpha: float = Field(0.7, ge=0, le=1)
    epochs: int = Field(20, ge=1)
    lr: float = Field(3e-3, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))
    feature_layers: Optional[tuple[str, str]] = None
    feature_weight: float = Field(1.0, ge=0)

    @property
    def teachers(self) -> list[str]:
        return [] if self.teacher is None else [self.teacher] if isinstance(self.teacher, str) else list(self.teacher)


class PruneStage(_Stage):
    """Magnitude pruning (tfmot) to ``sparsity``; ``exclude``: layer names, "first", "last"."""

    kind: Literal["prune"] = "prune"
    sparsity: float = Field(ge=0, lt=1)
    exclude: list[str] = Field(default_factory=lambda: ["first", "last"])
    lr: float = Field(5e-4, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))
    schedule_fraction: float = Field(0.6, gt=0, le=1)
    epochs: int = Field(10, ge=1)


class PruneChannelsStage(_Stage):
    """Structured pruning: remove ``fraction`` of every conv's channels (ds_cnn_*, cnn_small)."""

    kind: Literal["prune_channels"] = "prune_channels"
    fraction: float = Field(ge=0, lt=1)
    exclude: list[str] = Field(default_factory=list)
    round_to: int = Field(4, ge=1)


class ClusterStage(_Stage):
    """Weight clustering: ``clusters`` values per kernel, or ``per_layer`` counts."""

    kind: Literal["cluster"] = "cluster"
    clusters: int = Field(16, ge=2)
    per_layer: dict[str, int] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=lambda: ["first"])
    epochs: int = Field(3, ge=0)
    lr: float = Field(2e-4, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))


class QatStage(_Stage):
    """Quantization-aware training, then full-int8 conversion."""

    kind: Literal["qat"] = "qat"
    epochs: int = Field(3, ge=1)
    lr: float = Field(2e-4, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))
    scheme: Literal["auto", "default", "prune_preserve", "cluster_preserve"] = "auto"


class PtqStage(_Stage):
    """Post-training conversion only: one artifact per mode."""

    kind: Literal["ptq"] = "ptq"
    modes: list[Literal["float32", "float16", "int8", "int16x8"]] = Field(
        default_factory=lambda: ["float32", "float16", "int8", "int16x8"], min_length=1
    )
    epochs: int = 0


STAGES = {
    "distill": DistillStage,
    "prune": PruneStage,
    "prune_channels": PruneChannelsStage,
    "cluster": ClusterStage,
    "qat": QatStage,
    "ptq": PtqStage,
}
Stage = Union[DistillStage, PruneStage, PruneChannelsStage, ClusterStage, QatStage, PtqStage]
_FINAL = ("qat", "ptq")


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors())


def parse(section) -> list[Stage]:
    """Check a ``compress:`` list and return its stage models, or raise ``ConfigError``."""
    if isinstance(section, dict) and set(section) == {"stages"}:
        section = section["stages"]
    if not isinstance(section, list) or not section:
        raise ConfigError(f"compress: expected a non-empty list of stages, got {section!r}")
    stages = []
    for i, entry in enumerate(section):
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"compress stage {i}: {entry!r} must be one mapping like {{prune: {{sparsity: 0.75}}}}")
        (name, options), = entry.items()
        if name not in STAGES:
            raise ConfigError(f"compress stage {i}: unknown stage {name!r}; known: {sorted(STAGES)}")
        try:
            stages.append(STAGES[name].model_validate(options or {}))
        except ValidationError as exc:
            raise ConfigError(f"compress stage {i} ({name}): {_describe(exc)}") from None
        except TypeError as exc:
            raise ConfigError(f"compress stage {i} ({name}): options must be a mapping ({exc})") from None
    for i, stage in enumerate(stages[:-1]):
        if stage.kind in _FINAL:
            later = [s.kind for s in stages[i + 1:]]
            raise ConfigError(f"compress stage {i} ({stage.kind}) gives an integer model and must be last; "
                              f"it is followed by {later}")
    return stages


def load(path) -> list[Stage]:
    """Stages from a YAML file: either a whole recipe with a ``compress:`` key, or the bare list."""
    import yaml

    try:
        with open(path) as f:
            document = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read compress recipe ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(document, dict):
        if "compress" not in document:
            raise ConfigError(f"{path}: no 'compress:' section (keys: {sorted(document)})")
        document = document["compress"]
    return parse(document)

"""How a model is trained: the typed plan that the one ``fit`` follows.

``FitPlan`` holds everything about a training run that is not the model, the
data or the loss: optimizer and learning-rate schedule, gradient clipping,
early stopping, which weights are kept, seeding, mixed precision and the
``tf.distribute`` strategy. The recipe's ``train:`` section
(``quantize.recipe.Train``) and every compression stage's options
(``quantize.compress.recipe``) are ``FitPlan`` subclasses with their own
defaults, so the same keys mean the same thing everywhere.

The defaults are those of a short fine-tuning run: Adam, cosine decay to
zero, no warm-up, no clipping, no early stopping, the best validation
epoch's weights kept. This module imports no TensorFlow (recipes are read
before it loads).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from sdk.errors import ConfigError


def describe(exc: ValidationError) -> str:
    """``key: what is wrong`` for every error, joined by ``; ``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message} (got {err.get('input')!r})")
    return "; ".join(parts)


class FitPlan(BaseModel):
    """Settings of one ``quantize.train.fit.fit`` call; unknown keys are refused.

    ``best_weights``: ``best`` keeps the weights of the epoch with the best
    ``monitor`` value at or after epoch ``best_from_epoch`` (epochs count from
    1), ``last`` keeps the weights of the last epoch run. Without validation
    data the last epoch's weights are kept either way. ``seed``: Python, numpy
    and TensorFlow seeds set before the model is built; ``None`` leaves the
    random state as the caller set it.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0, validation_alias=AliasChoices("lr", "learning_rate"))
    weight_decay: float = Field(0.0, ge=0)  # adamw only
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)  # linear warm-up from lr / warm-up steps to lr
    min_lr_fraction: float = Field(0.0, ge=0, le=1)  # cosine ends at lr x this
    grad_clip_norm: Optional[float] = Field(None, gt=0)  # global norm; None = no clipping
    early_stopping_patience: int = Field(0, ge=0)  # epochs without a better monitor value; 0 = off
    monitor: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    best_weights: Literal["best", "last"] = "best"
    best_from_epoch: int = Field(1, ge=1)  # counted from 1; e.g. once a pruning schedule reached its target
    seed: Optional[int] = 0
    deterministic: bool = False  # TensorFlow op determinism (slower on some ops; once per process)
    mixed_precision: bool = False
    strategy: Literal["default", "mirrored", "multi_worker"] = "default"
    threads: int = Field(0, ge=0)  # TensorFlow intra-op threads; 0 = TensorFlow's choice
    progress: bool = True  # an epoch bar when a progress reporter is installed (quantize.progress)

    def __init__(self, **options):
        """Direct construction raises ``ConfigError`` naming the key (recipes report their own path)."""
        try:
            super().__init__(**options)
        except ValidationError as exc:
            raise ConfigError(f"{type(self).__name__}: {describe(exc)}") from None

    # Marked as pydantic's own __init__ (as pydantic's RootModel does), so validating a recipe
    # or stage that holds a plan does not call it, and their errors keep the full key path.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _warmup_within_epochs(self):
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} exceeds epochs={self.epochs}")
        return self

    def plan(self) -> "FitPlan":
        """The plain ``FitPlan`` part of a subclass (a recipe section or a stage's options)."""
        return FitPlan.model_validate({k: getattr(self, k) for k in FitPlan.model_fields})

    @property
    def mode(self) -> str:
        """``max`` or ``min``: which way ``monitor`` improves."""
        return "min" if self.monitor.endswith("loss") else "max"

"""Recipe sections that mirror a dataclass of the runtime or the data side: front end, detection, augmentation.

Each is a strict pydantic model with the dataclass's fields, types and
defaults (``_from_dataclass``), so the recipe and the code it configures
cannot drift apart; ``Detection`` adds the checks an artifact relies on.
"""
from __future__ import annotations

import dataclasses
import typing

import pydantic
from pydantic import ConfigDict, Field, field_validator

from sdk.bundle import DetectionDefaults
from sdk.frontend import FrontEndConfig


def _from_dataclass(cls, name: str):
    """A strict pydantic model with a dataclass's fields, types and defaults."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = Field(default_factory=f.default_factory)  # type: ignore[misc]
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    return pydantic.create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


FrontEnd = _from_dataclass(FrontEndConfig, "FrontEnd")


class Detection(_from_dataclass(DetectionDefaults, "Detection")):  # type: ignore[misc]
    """``sdk.bundle.DetectionDefaults`` as the recipe's ``detection:`` section, checked when read:
    artifacts and MCU headers copy these numbers as they are."""

    @field_validator("threshold")
    @classmethod
    def _threshold_is_a_probability(cls, value):
        if not 0 < value <= 1:
            raise ValueError(f"threshold={value} must be in (0, 1] (a posterior; 0 would fire on every hop)")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds_are_probabilities(cls, value):
        bad = {label: t for label, t in value.items() if not isinstance(t, (int, float)) or not 0 < t <= 1}
        if bad:
            raise ValueError(f"thresholds {bad} must each be in (0, 1]")
        return value

    @field_validator("smoothing_s", "refractory_s")
    @classmethod
    def _not_negative(cls, value, info):
        if value < 0:
            raise ValueError(f"{info.field_name}={value} must be >= 0 seconds")
        return value

    @field_validator("hop_s")
    @classmethod
    def _hop_positive(cls, value):
        if value <= 0:
            raise ValueError(f"hop_s={value} must be > 0 seconds")
        return value

    @field_validator("min_count")
    @classmethod
    def _min_count_positive(cls, value):
        if value < 1:
            raise ValueError(f"min_count={value} must be >= 1")
        return value


def _augment_model():
    try:
        from quantize.data.augment import AugmentConfig
    except ImportError:  # the data side's module; a recipe can still say augment: {}
        return dict
    return _from_dataclass(AugmentConfig, "Augment")


Augment = _augment_model()

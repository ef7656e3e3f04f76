"""The ``wakeword:`` recipe section: phrases from text, real negatives, mining, calibration.

A wake-word recipe names phrases and the folders of audio that must not wake
the device; :func:`expand` writes the rest of an ordinary recipe from that
(``data`` with TTS positives, confusable phrases, other words and windows of
the negative folders as ``_unknown_``; a streaming student; both int8
exports), so training, the teacher, the student and the export are the same
stages as for keyword spotting. Keys the recipe sets itself are kept.

The negative folders are split by file (:mod:`quantize.wakeword.background`):
``train`` files give training windows and are mined for hard negatives,
``calibration`` files choose the threshold, and ``held_out`` files are never
read by training, so a benchmark can measure false accepts on them.
"""
from __future__ import annotations

import copy
import re
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdk.errors import ConfigError

WAKEWORD_FRONTEND = {"clip_s": 1.5}  # multi-word phrases, slowed by the TTS speed variation, last up to ~1.4 s
WAKEWORD_MODEL = {"name": "ds_cnn_s", "params": {"streamable": True, "filters": 48}}
WAKEWORD_EXPORT = {"modes": ["int8", "streaming_int8"], "calibration_size": 400}
TEACHER_EXPORT = "embedding_int8"  # with a teacher: its head on the speech embedding, for Pi-class hosts


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Negatives(_Strict):
    """A folder of audio without the phrase (talk, television, music, noise), searched recursively."""

    path: str
    max_windows: int = Field(3000, ge=1)  # training windows (clip-length, random offsets) from its train files
    optional: bool = False  # skip, with a warning, when the folder is absent


class Mining(_Strict):
    """Hard-negative mining: run the model over the negatives' train files, add what it fires on, fine-tune."""

    rounds: int = Field(1, ge=0)
    threshold: float = Field(0.5, gt=0, le=1)  # mine events at this threshold (below the final one: more to learn)
    max_windows: int = Field(2000, ge=1)  # per round, highest-scoring first
    max_hours: Optional[float] = Field(None, gt=0)  # of train files scanned per round (None: all)
    epochs: int = Field(8, ge=1)  # fine-tuning epochs per round
    lr: float = Field(1e-3, gt=0)


class Calibration(_Strict):
    """Choose threshold and smoothing on held-back audio (``sdk.calibrate``) and store them in the artifacts."""

    target_false_accepts_per_hour: float = Field(0.5, gt=0)
    snr_db: list[float] = Field(default_factory=lambda: [10.0, 20.0])  # positives over the calibration audio
    allow_unresolved: bool = False  # calibration audio shorter than 1/target hours: choose zero false accepts
    max_positives: int = Field(200, ge=1)  # held-out synthetic voices laid into the stream


class Wakeword(_Strict):
    phrases: list[str] = Field(min_length=1)
    variants_per_phrase: int = Field(600, ge=1)  # TTS voices x pitch x speed x gain per phrase
    engines: list[str] = Field(default_factory=lambda: ["espeak-ng", "flite", "festival"])
    confusables: int = Field(24, ge=0)  # near misses per phrase: each word alone, sound-alike words and respellings
    confusable_variants: int = Field(6, ge=1)  # voices per confusable phrase
    other_words: int = Field(142, ge=0)  # everyday words as negatives, each said by confusable_variants voices
    sentences: int = Field(1500, ge=0)  # runs of everyday words in the same synthetic voices, as negatives
    negatives: list[Negatives] = Field(min_length=1)
    held_back: float = Field(0.2, ge=0, lt=1)  # share of negative files kept for calibration
    held_out: float = Field(0.3, ge=0, lt=1)  # share of negative files training never reads (evaluation)
    mining: Mining = Field(default_factory=Mining)
    calibration: Calibration = Field(default_factory=Calibration)

    @field_validator("phrases")
    @classmethod
    def _phrases_speakable(cls, value):
        from quantize.data.negatives import check_text

        for i, phrase in enumerate(value):
            try:
                check_text(phrase)
            except ConfigError as exc:
                raise ValueError(f"phrases[{i}]={phrase!r}: {exc}") from None
        ids = [phrase_id(p) for p in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"phrases {value} repeat")
        return value

    @model_validator(mode="after")
    def _shares(self):
        if self.held_back + self.held_out >= 0.9:
            raise ValueError(f"held_back={self.held_back} + held_out={self.held_out} leave under 10 % of the "
                             "negative files for training")
        return self


def phrase_id(phrase: str) -> str:
    """The label of a phrase: "Hey Kitchen" -> "hey_kitchen"."""
    return re.sub(r"[^a-z0-9]+", "_", phrase.strip().lower()).strip("_") or phrase.strip()


def expand(values: dict) -> dict:
    """An ordinary recipe (``data``, ``frontend``, ``model``, ``export``, ``detection``) from ``wakeword:``.

    Raises ``pydantic.ValidationError`` for a bad ``wakeword`` section
    (``quantize.recipe.load`` names the keys). Keys the recipe sets are kept.
    """
    values = copy.deepcopy(values)
    section = Wakeword(**(values["wakeword"] or {}))
    ids = [phrase_id(p) for p in section.phrases]
    tts = {"kind": "tts", "role": "all", "engines": section.engines, "variants_per_word": section.variants_per_phrase,
           "near_misses": section.confusables > 0, "near_miss_count": max(section.confusables, 1),
           "unknown_words": section.other_words, "unknown_variants_per_word": section.confusable_variants,
           "sentences": section.sentences}
    backgrounds = [{"kind": "background", "role": "fit", "path": n.path, "max_clips_per_label": n.max_windows,
                    "optional": n.optional, "held_back": section.held_back, "held_out": section.held_out}
                   for n in section.negatives]
    values["data"] = {
        "keywords": ids, "say": dict(zip(ids, section.phrases)), "unknown": True, "silence": True,
        "sources": [tts, *backgrounds],
        "split": {"train": 0.7, "val": 0.1, "test": 0.2},  # by voice: test voices are held out (and calibrate)
        "unknown_max_ratio": 1000.0,  # every negative window counts: a wake word is judged on hours of them
        "train_copies": 2,
    }
    values.setdefault("frontend", dict(WAKEWORD_FRONTEND))
    values.setdefault("model", copy.deepcopy(WAKEWORD_MODEL))
    export = copy.deepcopy(WAKEWORD_EXPORT)
    if isinstance(values.get("teacher"), dict):
        export["modes"].append(TEACHER_EXPORT)
    values.setdefault("export", export)
    values.setdefault("detection", {"refractory_s": 2.0})  # one wake-up per utterance; calibration sets the rest
    if isinstance(values.get("teacher"), dict):  # the teacher hears the whole window, with a margin
        clip_s = (values["frontend"] or {}).get("clip_s", 1.0)
        values["teacher"].setdefault("context_s", min(3.0, clip_s + 0.25))
        values["teacher"].setdefault("filter_below", 0.05)  # garbled synthetic voices, negatives that say the phrase
    values["wakeword"] = section.model_dump()
    return values


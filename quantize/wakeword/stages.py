"""The wake-word stages after training: hard-negative mining rounds, then calibration.

``pipeline.run`` calls :func:`mine_rounds` on the trained student (before
export) and :func:`calibrate_artifacts` on the exported artifacts. Mining
runs the student, as an int8 artifact with its detection rule, over the
negatives' ``train`` files (``quantize.data.mining``), adds each window it
fires on as ``_unknown_`` and fine-tunes through the one ``fit``. The teacher's
head gets the same rounds first (:func:`mine_teacher`, called by
``quantize.transfer.teach``), run on its speech-embedding artifact.
Calibration lays held-out synthetic voices of each phrase (the test split's)
into the ``calibration`` files, chooses threshold and smoothing for the
recipe's false-accept target (``sdk.calibrate``) and rewrites each artifact
with them and the rates they were chosen at.
"""
from __future__ import annotations

import logging
import pathlib
import time

import numpy as np

from quantize import progress
from quantize.data.labels import UNKNOWN
from quantize.recipe import Recipe
from quantize.run import Run
from quantize.wakeword import background
from sdk.errors import ConfigError

log = logging.getLogger(__name__)
FLOAT_MODES = ("float16", "float32")  # calibrated too when exported, but they are not what a device runs


def _fine_tune_recipe(recipe: Recipe) -> Recipe:
    mining = recipe.wakeword.mining
    train = recipe.train.model_copy(update={"epochs": mining.epochs, "lr": mining.lr, "warmup_epochs": 0.0,
                                            "early_stopping_patience": mining.epochs})
    return recipe.model_copy(update={"train": train})


def _with_mined(arrays, x, labels: list[str]):
    """The training arrays plus mined windows labelled ``_unknown_`` (their soft target too, if distilling)."""
    from quantize.train.fit import Arrays

    unknown = labels.index(UNKNOWN)
    y = np.full(len(x), unknown, arrays.y_train.dtype)
    soft = None
    if arrays.soft_train is not None:
        soft = np.concatenate([arrays.soft_train, np.eye(len(labels), dtype=arrays.soft_train.dtype)[y]])
    return Arrays(np.concatenate([arrays.x_train, x]), np.concatenate([arrays.y_train, y]), arrays.x_val,
                  arrays.y_val, arrays.x_test, arrays.y_test, soft_train=soft)


def mine_rounds(recipe: Recipe, run_: Run, model, arrays, calibration: np.ndarray, *, verbose: int = 0):
    """``(model, arrays, report)`` after ``wakeword.mining.rounds`` rounds of mining and fine-tuning the student."""
    from quantize.data.windows import load_features
    from quantize.export.int8 import to_tflite

    def as_bundle(model):
        return run_.bundle(to_tflite(model, mode="int8", calibration=calibration), name=recipe.name, provenance={})

    def windows(clips):
        return load_features(clips, recipe.frontend_config(), labels=recipe.labels)[0]

    model, arrays, rounds = _rounds(recipe, _fine_tune_recipe(recipe), model, arrays, as_bundle, windows,
                                    run_.path / "mining", verbose=verbose)
    return model, arrays, {"mining": {"rounds": rounds}}


def mine_teacher(recipe: Recipe, head_recipe: Recipe, run_dir, head, arrays, embed, *, verbose: int = 0):
    """``(head, arrays, rounds)``: the same mining rounds for the teacher's head, on its speech embedding.

    The head is what ``embedding_int8`` ships and what the student learns from,
    so it too learns from the real windows it fires on (as ``_unknown_``). ``head_recipe``: the
    recipe the head trained with (``quantize.transfer.teach.head_recipe``)."""
    from quantize.export.embedding_stage import frontend
    from quantize.export.int8 import to_tflite
    from quantize.run import to_bundle

    def as_bundle(head):  # float32: the mining run needs no calibration windows
        return to_bundle(to_tflite(head, mode="float32"), frontend=frontend(recipe), labels=recipe.labels,
                         name=recipe.name, detection=recipe.detection_defaults())

    def windows(clips):  # the Embedder takes audio at the recipe's rate, as it took the training clips
        return embed(_clip_audio(clips, recipe.frontend.sample_rate, recipe.teacher.context_s))

    return _rounds(recipe, _fine_tune_recipe(head_recipe), head, arrays, as_bundle, windows,
                   pathlib.Path(run_dir) / "teacher" / "mining", verbose=verbose)


def _clip_audio(clips, sample_rate: int, seconds: float) -> np.ndarray:
    """``(n, samples)``: each mined clip's audio, the ``seconds`` window the model fired on."""
    from sdk.audio import fit_length, load_audio

    audio, out, length = {}, [], int(round(seconds * sample_rate))
    for clip in clips:
        if clip.path not in audio:
            audio[clip.path] = load_audio(clip.path, sample_rate)
        first = int(round(clip.start_s * sample_rate))
        out.append(fit_length(audio[clip.path][first : first + length], length))
    return np.stack(out)


def _rounds(recipe: Recipe, fine_tune: Recipe, model, arrays, as_bundle, windows, out_dir, *, verbose: int):
    """Mining rounds: ``as_bundle(model)`` runs over the train files, ``windows(clips)`` makes what it
    fired on into training windows, and ``fine_tune`` refits from the current weights."""
    from quantize.data.mining import mine
    from quantize.train.classifier import fit

    section = recipe.wakeword
    rounds, files = [], background.negative_files(recipe, "train")
    durations = {f: background.duration_s(f) or 0.0 for f in files}  # read once, not once per round
    rng = np.random.default_rng(recipe.seed)
    for r in range(section.mining.rounds):
        t = time.perf_counter()
        scanned, seconds = _limit_hours(list(rng.permutation(files)), section.mining.max_hours, durations)
        bundle = as_bundle(model)
        with progress.stage(f"mining round {r + 1}: {len(scanned)} negative files"):
            clips = mine(bundle, scanned, threshold=section.mining.threshold, max_clips=section.mining.max_windows)
        entry = {"round": r + 1, "files": len(scanned), "hours": round(seconds / 3600, 3),
                 "mined_windows": len(clips)}
        if clips:
            arrays = _with_mined(arrays, windows(clips), recipe.labels)
            out = pathlib.Path(out_dir) / f"round_{r + 1}"
            out.mkdir(parents=True, exist_ok=True)
            model, history = fit(fine_tune, arrays, out, verbose=verbose, initial_weights=model.get_weights())
            entry["best_val_accuracy"] = max(history["val_accuracy"])
        entry["seconds"] = round(time.perf_counter() - t, 1)
        rounds.append(entry)
        log.info("mining round %d: %d windows mined from %.2f h", r + 1, len(clips), entry["hours"])
        if not clips:
            break
    return model, arrays, rounds


def _limit_hours(files: list, max_hours: float | None, durations: dict) -> tuple[list, float]:
    """The first files that reach ``max_hours`` (all when None), and their seconds."""
    kept, total = [], 0.0
    for f in files:
        if max_hours is not None and total >= max_hours * 3600:
            break
        kept.append(f)
        total += durations[f]
    return kept, total


def _positives(recipe: Recipe, test_clips) -> dict:
    """Held-out synthetic voices per phrase: the test split's clips of each phrase label."""
    section = recipe.wakeword
    by_label = {label: [c.path for c in test_clips if c.label == label] for label in recipe.data.keywords}
    empty = [label for label, paths in by_label.items() if not paths]
    if empty:
        raise ConfigError(f"{recipe.source}: wakeword: no held-out voices of {empty} to calibrate on "
                          "(raise wakeword.variants_per_phrase)")
    rng = np.random.default_rng(recipe.seed)
    per_label = max(1, section.calibration.max_positives // len(by_label))
    return {label: [paths[i] for i in np.sort(rng.permutation(len(paths))[:per_label])]
            for label, paths in by_label.items()}


def calibrate_artifacts(recipe: Recipe, run_: Run, artifacts: dict, test_clips) -> dict:
    """Calibrate every int8 artifact in place; ``{mode: calibration as a dict}``."""
    from pathlib import Path

    from sdk.bundle import Bundle
    from sdk.calibrate import calibrate, with_calibration
    from sdk.stream_eval import background_once, build_stream

    section = recipe.wakeword.calibration
    files = background.negative_files(recipe, "calibration")
    if not files:
        raise ConfigError(f"{recipe.source}: wakeword.held_back: no negative file falls in the calibration share; "
                          "raise held_back or add negative audio")
    rate = recipe.frontend.sample_rate
    clips = _positives(recipe, test_clips)
    count = sum(len(v) for v in clips.values())
    with progress.stage(f"calibration: {len(files)} held-back files, {count} held-out voices"):
        negatives = background_once(files, sample_rate=rate)
        positives, placements = build_stream({k: [Path(p) for p in v] for k, v in clips.items()}, files,
                                             sample_rate=rate, duration_s=10.0 * count, snr_db=section.snr_db,
                                             keywords_per_minute=6.0, rng=np.random.default_rng(recipe.seed))
        chosen = {}
        for mode, entry in artifacts.items():
            if mode in FLOAT_MODES:
                continue
            path = run_.path / entry["file"]
            bundle = Bundle.load(path)
            cal = calibrate(bundle, negatives, positives, placements, target=section.target_false_accepts_per_hour,
                            sample_rate=rate, require_resolved=not section.allow_unresolved,
                            where=f"{recipe.source}: wakeword.calibration ({mode})")
            with_calibration(bundle, cal).save(path)
            chosen[mode] = cal.as_dict()
    return chosen


def report_lines(summary: dict) -> list[str]:
    """The wake-word section of ``report.md``."""
    lines = ["", "## Wake word", ""]
    for r in summary.get("mining", {}).get("rounds", []):
        lines.append(f"- mining round {r['round']}: {r['mined_windows']} windows fired on in {r['hours']:.2f} h of "
                     f"negative audio ({r['files']} files), {r['seconds']:.0f} s")
    for mode, cal in summary.get("calibration", {}).items():
        d = cal["detection"]
        lines.append(f"- `{mode}` calibrated for {cal['target_false_accepts_per_hour']:g} false accepts per hour: "
                     f"threshold {d['threshold']:g}, smoothing {d['smoothing_s']:g} s, {d['min_count']} hit(s) in a "
                     f"row; {cal['false_accepts']} false accepts in {cal['negative_hours']:.2f} h "
                     f"({cal['false_accepts_per_hour']:.2f} per hour), missed {cal['miss_rate']:.1%} of "
                     f"{cal['positives']} held-out voices")
    return lines

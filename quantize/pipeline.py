"""Recipe -> run folder: data, features, training, int8 export, evaluation, report.

``run(recipe, run_dir)`` is the one entry point (``auricle train`` calls it).
Order matters: everything that can be checked cheaply (recipe keys, folders,
engines, model name, labels without audio) is checked before the run folder
is created or any audio is decoded.

The run folder holds ``recipe.yaml`` (resolved), ``data.json`` (clips per
split and label), ``checkpoints/``, ``history.csv``, one artifact per export
mode (``model_int8.tflite``, ``model_streaming_int8.tflite``, ...; each an ``sdk.bundle.Bundle``),
``calibration.npy`` (the int8 calibration windows),
``metrics.json``, plots and ``report.md``.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import sys
import time
from collections import Counter
from dataclasses import replace

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
from quantize.data import clips as qdata
from quantize import progress
from quantize import recipe as qrecipe
from quantize.recipe import SILENCE, UNKNOWN, Recipe
from sdk.bundle import Bundle, Head
from sdk.errors import AudioError, ConfigError

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def prepare_run_dir(run_dir, *, force: bool) -> pathlib.Path:
    """Refuse an existing run folder unless ``force`` (then it must look like a run: recipe.yaml)."""
    run_dir = pathlib.Path(run_dir)
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        if not force:
            raise ConfigError(f"{run_dir}: run folder already exists; choose another --out or pass --force to replace it")
        if not (run_dir / "recipe.yaml").is_file():
            raise ConfigError(
                f"{run_dir}: exists and is not an Auricle run folder (no recipe.yaml); not replacing it even with --force"
            )
        shutil.rmtree(run_dir)
    return run_dir


def _map_labels(clips, recipe: Recipe, source, where: str):
    """Apply ``label_map``; labels that are not keywords become ``_unknown_`` (or an error)."""
    keywords, out = set(recipe.data.keywords), []
    for clip in clips:
        label = source.label_map.get(clip.label, clip.label)
        if label not in keywords and not (label == SILENCE and recipe.data.silence):
            if not recipe.data.unknown:
                raise ConfigError(
                    f"{recipe.source}: {where}: label {label!r} is not in data.keywords {sorted(keywords)}; "
                    "add it, map it with label_map, or set data.unknown: true to use it as _unknown_"
                )
            label = UNKNOWN
        out.append(replace(clip, label=label))
    return out


def _cap_per_label(clips, limit, seed):
    if not limit:
        return clips
    rng = np.random.default_rng(seed)
    by_label: dict = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    kept = []
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) > limit:
            group = [group[i] for i in sorted(rng.choice(len(group), limit, replace=False))]
        kept += group
    return kept


def _split(clips, role, recipe: Recipe) -> dict:
    """Split by speaker with ``data.split``; ``eval`` / ``test`` keep only those parts of that
    same split, so recipes that differ in roles are tested on the same clips."""
    if role == "train":
        return {"train": list(clips), "val": [], "test": []}
    if role == "fit":
        fractions = recipe.data.split
        kept = fractions["train"] + fractions["val"]
        parts = qdata.split_by_speaker(
            clips, fractions={"train": fractions["train"] / kept, "val": fractions["val"] / kept}, seed=recipe.seed
        )
        return {"train": parts["train"], "val": parts["val"], "test": []}
    pinned = set(recipe.data.test_speakers)
    if pinned:  # few speakers: named ones test, the rest split by clip into train / val
        fractions = recipe.data.split
        kept = fractions["train"] + fractions["val"]
        rest = [replace(c, speaker="") for c in clips if c.speaker not in pinned]
        by_clip = qdata.split_by_speaker(
            rest, fractions={"train": fractions["train"] / kept, "val": fractions["val"] / kept}, seed=recipe.seed
        )
        originals = {c.path: c for c in clips}
        parts = {
            "train": [originals[c.path] for c in by_clip["train"]],
            "val": [originals[c.path] for c in by_clip["val"]],
            "test": [c for c in clips if c.speaker in pinned],
        }
    else:
        parts = qdata.split_by_speaker(clips, fractions=dict(recipe.data.split), seed=recipe.seed)
        parts = {split: parts.get(split, []) for split in SPLITS}
    if role == "eval":
        parts["train"] = []
    elif role == "test":
        parts["train"], parts["val"] = [], []
    return parts


def _file_sources(recipe: Recipe) -> list:
    """(index, source, clips) of every non-TTS source, labels mapped."""
    out = []
    for i, source in enumerate(recipe.data.sources):
        if source.kind == "tts":
            continue
        where = f"data.sources[{i}] ({source.kind} {source.path})"
        path = recipe.resolve_path(source.path)
        try:
            if source.kind == "speech_commands":
                clips = qdata.from_speech_commands(
                    path,
                    keywords=source.keywords or recipe.data.keywords,
                    include_unknown=source.include_unknown and recipe.data.unknown,
                    include_silence=source.include_silence and recipe.data.silence,
                    clip_s=recipe.frontend.clip_s,
                    seed=recipe.seed,
                )
            elif source.kind == "folders":
                clips = qdata.from_folders(path)
            else:
                clips = qdata.from_manifest(
                    path,
                    label_column=source.label_column,
                    path_column=source.path_column,
                    speaker_column=source.speaker_column,
                )
        except ConfigError as exc:
            raise ConfigError(f"{recipe.source}: {where}: {exc}") from None
        clips = _map_labels(clips, recipe, source, where)
        out.append((i, source, _cap_per_label(clips, source.max_clips_per_label, recipe.seed)))
    return out


def check_labels(recipe: Recipe, file_sources) -> None:
    """Every label needs training audio from some source (or TTS, or generated silence)."""
    trainable = Counter()
    for _, source, clips in file_sources:
        if source.role in ("all", "train", "fit"):
            trainable.update(c.label for c in clips)
    for source in recipe.data.sources:
        if source.kind == "tts" and source.role in ("all", "train", "fit"):
            trainable.update(source.words or recipe.data.keywords)
            if source.unknown_words or source.near_misses:
                trainable[UNKNOWN] += 1
    if recipe.data.silence:
        trainable[SILENCE] += 1  # generated from noise when no source has it
    missing = [label for label in recipe.labels if trainable[label] == 0]
    if missing:
        raise ConfigError(
            f"{recipe.source}: label(s) {missing} have no training audio in any source "
            f"(sources with role all/train give: {dict(sorted(trainable.items()))})"
        )


def _tts_clips(recipe: Recipe, index: int, source, out_dir: pathlib.Path) -> list:
    try:
        from quantize.data import tts
    except ImportError as exc:
        raise ConfigError(f"{recipe.source}: data.sources[{index}] (tts): quantize.data.tts is not available ({exc})") from None
    words = list(source.words or recipe.data.keywords)
    spoken = {recipe.data.say.get(w, w): w for w in words}
    common = {"engines": list(source.engines), "clip_s": recipe.frontend.clip_s}
    said = tts.synthesize(list(spoken), out_dir, variants_per_word=source.variants_per_word, seed=recipe.seed, **common)
    clips = [replace(c, label=spoken.get(c.label, c.label)) for c in said]
    others: list = []
    if source.near_misses:
        for text in spoken:
            others += tts.near_misses(text, count=5)
    if source.unknown_words:
        others += tts.unknown_words(list(spoken), count=source.unknown_words, seed=recipe.seed)
    keep = {w.lower() for w in spoken}
    others = [w for w in dict.fromkeys(others) if w.lower() not in keep]
    if others:
        clips += list(tts.synthesize(others, out_dir, variants_per_word=source.unknown_variants_per_word,
                                     seed=recipe.seed + 1, label=UNKNOWN, **common))
    bad = sorted({c.label for c in clips} - set(recipe.labels))
    if bad:
        raise ConfigError(f"{recipe.source}: data.sources[{index}] (tts): synthesized clips with label(s) {bad}")
    return _cap_per_label(clips, source.max_clips_per_label, recipe.seed)


def _generated_silence(recipe: Recipe, splits: dict, work_dir: pathlib.Path) -> None:
    """Silence clips cropped from generated noise, for splits that have none."""
    from quantize.data.augment import write_synthetic_noise

    keyword_counts = [n for label, n in Counter(c.label for c in splits["train"]).items() if label not in (UNKNOWN, SILENCE)]
    per_train = recipe.data.silence_count or max(10, int(np.mean(keyword_counts)) if keyword_counts else 10)
    noise_files = write_synthetic_noise(
        work_dir / "noise", seconds=20.0, sample_rate=recipe.frontend.sample_rate, seed=recipe.seed
    )
    fractions = recipe.data.split
    for offset, split in enumerate(SPLITS):
        if any(c.label == SILENCE for c in splits[split]) or fractions[split] == 0:
            continue
        count = max(4, int(round(per_train * fractions[split] / fractions["train"])))
        clips = qdata.silence_clips(noise_files, count, clip_s=recipe.frontend.clip_s, seed=recipe.seed + 7 * offset)
        splits[split] += [replace(c, speaker=f"generated-{split}-{i}") for i, c in enumerate(clips)]


def list_clips(recipe: Recipe, work_dir: pathlib.Path, *, file_sources=None) -> dict:
    """Clips of each split, from every source (TTS synthesized into ``work_dir/tts``)."""
    file_sources = _file_sources(recipe) if file_sources is None else file_sources
    splits: dict = {s: [] for s in SPLITS}
    for _, source, clips in file_sources:
        for split, part in _split(clips, source.role, recipe).items():
            splits[split] += part
    for i, source in enumerate(recipe.data.sources):
        if source.kind == "tts":
            cache = pathlib.Path(os.environ.get("AURICLE_TTS_CACHE") or work_dir / "tts")
            clips = _tts_clips(recipe, i, source, cache)
            for split, part in _split(clips, source.role, recipe).items():
                splits[split] += part
    if recipe.data.silence:
        _generated_silence(recipe, splits, work_dir)
    if recipe.data.unknown:
        splits = {s: qdata.cap_unknown(c, max_ratio=recipe.data.unknown_max_ratio, seed=recipe.seed) for s, c in splits.items()}
    for split in ("train", "val"):
        missing = sorted(set(recipe.labels) - {c.label for c in splits[split]})
        if missing and split == "train":
            raise ConfigError(f"{recipe.source}: label(s) {missing} have no audio in the train split")
        if not splits[split]:
            raise ConfigError(
                f"{recipe.source}: the {split} split is empty; check data.split {dict(recipe.data.split)} "
                "and the sources' roles (few speakers?)"
            )
    if not splits["test"]:
        raise ConfigError(f"{recipe.source}: the test split is empty; check data.split and the sources' roles")
    return splits


def load_split_features(recipe: Recipe, clips, *, augment, copies: int, seed: int, description: str, embed=None):
    """Features of ``clips`` in chunks (for the progress count); returns ``(X, y, skipped, E)``.

    ``embed``: a teacher's ``audio -> embeddings`` callable; ``E`` are the
    embeddings of the same (augmented) audio, row for row (``None`` without).
    Unreadable files are judged over the whole split (at most 5 %), not per chunk.
    """
    frontend = recipe.frontend_config()
    chunk = 64
    xs, ys, es, skipped = [], [], [], []
    with progress.stage(description, total=len(clips)) as advance:
        for k, start in enumerate(range(0, len(clips), chunk)):
            part = clips[start : start + chunk]
            feats = qdata.load_features(part, frontend, labels=recipe.labels, augment=augment, copies=copies,
                                        seed=seed * 100_003 + k, max_skipped_fraction=1.0,
                                        keep_audio=embed is not None)
            xs.append(feats[0])
            ys.append(feats[1])
            if embed is not None and feats.audio is not None:
                es.append(embed(feats.audio))
            skipped += list(getattr(feats, "skipped", []))
            advance(len(part))
    if len(skipped) > 0.05 * len(clips):
        raise AudioError(f"{description.strip()}: {len(skipped)} of {len(clips)} files are unreadable (more than "
                         f"5 %), e.g. {skipped[0][0]}: {skipped[0][1]}")
    embeddings = np.concatenate(es) if embed is not None else None
    return np.concatenate(xs), np.concatenate(ys), skipped, embeddings


def _evaluate_artifact(bundle: Bundle, x, y, labels):
    from quantize.export.report import classification_metrics
    from sdk.engine import Engine

    engine = Engine(bundle)
    scores = engine.predict_batch(x)[0]
    return classification_metrics(y, scores, labels)


def _bundle(recipe: Recipe, tflite: bytes, provenance: dict, *, streaming: dict | None = None) -> Bundle:
    """One exported model as a Bundle: the recipe's labels, background, front end and detection defaults."""
    labels = tuple(recipe.labels)
    background = tuple(label for label in labels if label in (UNKNOWN, SILENCE))
    return Bundle.create(tflite, frontend=recipe.frontend_config(), heads=[Head("output", labels, background)],
                         name=recipe.name, detection=recipe.detection_defaults(), provenance=provenance,
                         streaming=streaming)


def _train_scratch(recipe: Recipe, run_dir, arrays, calibration, *, verbose: int) -> dict:
    """The same student trained without the teacher, exported int8: the distillation's control."""
    from quantize.export import report
    from quantize.export.int8 import to_tflite
    from quantize.train import fit
    from sdk.engine import Engine

    scratch_dir = pathlib.Path(run_dir) / "scratch"
    scratch_dir.mkdir(parents=True, exist_ok=True)
    model, history = fit(recipe.model_copy(update={"teacher": None}), arrays, scratch_dir, verbose=verbose)
    tflite = to_tflite(model, mode="int8", calibration=calibration)
    bundle = _bundle(recipe, tflite, {"role": "scratch"})
    bundle.save(scratch_dir / "model_int8.tflite")
    labels = recipe.labels
    return {
        "float_test": report.classification_metrics(arrays.y_test, model.predict(arrays.x_test, verbose=0), labels),
        "int8_test": report.classification_metrics(arrays.y_test, Engine(bundle).predict_batch(arrays.x_test)[0], labels),
        "int8_bytes": len(tflite),
        "best_val_accuracy": max(history["val_accuracy"]),
    }


def _save_artifact(recipe: Recipe, run_dir: pathlib.Path, mode: str, tflite: bytes, metrics: dict, data_summary: dict,
                   test, *, streaming: dict | None = None) -> dict:
    """Evaluate one exported model on the test windows and save it as a Bundle with its provenance."""
    labels = recipe.labels
    provenance = {
        "recipe": recipe.resolved(),
        "data": {s: {k: v for k, v in data_summary[s].items() if k != "per_source"} for s in SPLITS},
        "model": metrics["model"],
        "export_mode": mode,
        "metrics": {"float_test_accuracy": metrics["float"]["test"]["accuracy"]},
    }

    if streaming:
        from quantize.export import report, streaming_stage

        scores = streaming_stage.predict_windows(_bundle(recipe, tflite, provenance, streaming=streaming), test[0])
        evaluation = report.classification_metrics(test[1], scores, labels)
    else:
        evaluation = _evaluate_artifact(_bundle(recipe, tflite, provenance), *test, labels)
    provenance["metrics"][f"{mode}_test_accuracy"] = evaluation["accuracy"]
    saved = _bundle(recipe, tflite, provenance, streaming=streaming)
    filename = f"model_{mode}.tflite"
    saved.save(run_dir / filename)
    return {"file": filename, "model_bytes": len(tflite), "bundle_bytes": len(saved.model), "test": evaluation}


def run(recipe, run_dir, *, force: bool = False, verbose: int | None = None, keep_features: bool = False) -> pathlib.Path:
    """Validate, load data, train, export every mode as a Bundle, evaluate, report.

    Returns the run folder. ``recipe``: a path, a built-in name, a dict or a
    ``Recipe``. ``keep_features`` keeps ``features.npz`` (train / val windows)
    so ``quantize.train.classifier.train`` can re-train on it.
    """
    t_start = time.perf_counter()
    recipe = qrecipe.load(recipe)
    qrecipe.validate(recipe)
    run_dir = pathlib.Path(run_dir)
    if run_dir.exists() and not force:
        prepare_run_dir(run_dir, force=False)  # an existing, non-empty folder: raises before any work
    file_sources = _file_sources(recipe)
    check_labels(recipe, file_sources)
    run_dir = prepare_run_dir(run_dir, force=force)
    run_dir.mkdir(parents=True, exist_ok=True)
    recipe.dump(run_dir / "recipe.yaml")
    if verbose is None:  # Keras' own lines, unless a progress display shows the epochs
        verbose = 0 if progress.active() else (1 if sys.stdout.isatty() else 2)
    timings = {}

    t = time.perf_counter()
    with progress.stage("data (sources, silence)"):
        splits = list_clips(recipe, run_dir, file_sources=file_sources)
    labels = recipe.labels
    data_summary = {
        split: {
            "clips": len(clips),
            "per_label": {label: sum(c.label == label for c in clips) for label in labels},
            "per_source": dict(Counter(c.source for c in clips)),
            "speakers": len({c.speaker for c in clips}),
        }
        for split, clips in splits.items()
    }
    timings["list_and_synthesize_s"] = time.perf_counter() - t
    log.info("clips per split: %s", {s: v["clips"] for s, v in data_summary.items()})

    t = time.perf_counter()
    from quantize.data.augment import Augmenter

    augmenter = Augmenter(recipe.augment_config(), recipe.frontend.sample_rate, recipe.seed)
    embed = None
    if recipe.teacher is not None:
        from quantize.transfer.teach import Embedder

        embed = Embedder(recipe)
    embeddings = {}
    with progress.stage("features (clips)" + (" and teacher embeddings" if embed else "")):  # a line per split
        x_train, y_train, skipped, embeddings["train"] = load_split_features(
            recipe, splits["train"], augment=augmenter, copies=recipe.data.train_copies, seed=recipe.seed,
            description="  train, augmented", embed=embed)
        x_val, y_val, skipped_val, embeddings["val"] = load_split_features(
            recipe, splits["val"], augment=None, copies=1, seed=recipe.seed, description="  val", embed=embed)
        x_test, y_test, skipped_test, embeddings["test"] = load_split_features(
            recipe, splits["test"], augment=None, copies=1, seed=recipe.seed, description="  test", embed=embed)
    timings["features_s"] = time.perf_counter() - t
    data_summary["train"]["windows"] = int(len(x_train))
    data_summary["skipped_files"] = [{"path": p, "reason": r} for p, r in skipped + skipped_val + skipped_test]
    (run_dir / "data.json").write_text(json.dumps(data_summary, indent=2))

    from quantize.export import report
    from quantize.train import zoo
    from quantize.export.int8 import to_tflite
    from quantize.export import streaming_stage
    from quantize.train.classifier import train
    import tf_keras as keras

    t = time.perf_counter()
    from quantize.train.fit import Arrays

    rng = np.random.default_rng(recipe.seed)  # int8 calibration windows: one draw, for the student and its control
    calibration = x_train[rng.permutation(len(x_train))[: recipe.export.calibration_size]]
    np.save(run_dir / "calibration.npy", calibration)  # later stages (auricle export-streaming) calibrate on it too

    arrays = Arrays(x_train, y_train, x_val, y_val, x_test, y_test)
    teacher_summary = scratch_summary = None
    if recipe.teacher is not None:
        from quantize.transfer.teach import teach

        student_arrays, teacher_summary = teach(recipe, run_dir, arrays, embeddings, embed, verbose=verbose)
        timings["teacher_s"] = time.perf_counter() - t
        if recipe.teacher.compare_scratch:
            t = time.perf_counter()
            scratch_summary = _train_scratch(recipe, run_dir, arrays, calibration, verbose=verbose)
            timings["scratch_s"] = time.perf_counter() - t
        arrays = student_arrays
        t = time.perf_counter()
    arrays.save(run_dir / "features.npz")
    train(recipe, run_dir, verbose=verbose)
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    history = json.loads((run_dir / "history.json").read_text())
    if not keep_features and not recipe.compress:  # compression stages fine-tune on these
        (run_dir / "features.npz").unlink()
    timings["train_s"] = time.perf_counter() - t

    float_scores = model.predict(x_test, batch_size=256, verbose=0)
    metrics = {
        "name": recipe.name,
        "labels": labels,
        "frontend": recipe.frontend_config().to_dict(),
        "model": {
            "name": recipe.model.name,
            "params_config": recipe.model.params,
            "params": zoo.count_params(model),
            "macs": zoo.count_macs(model),
        },
        "training": {
            "epochs_run": len(history["loss"]),
            "best_epoch": history["best_epoch"],
            "train_time_s": history["train_time_s"],
            "best_val_accuracy": max(history["val_accuracy"]),
        },
        "data": data_summary,
        "float": {"test": report.classification_metrics(y_test, float_scores, labels)},
        "artifacts": {},
    }

    t = time.perf_counter()
    with progress.stage("export (TFLite)", total=len(recipe.export.modes)) as advance:
        tflite_by_mode, streaming = {}, {}
        for mode in recipe.export.modes:
            if mode == streaming_stage.MODE:  # the same calibration windows, each streamed from zero state
                tflite_by_mode[mode], streaming[mode] = streaming_stage.convert(
                    model, calibration, frames_per_step=streaming_stage.frames_per_step(recipe))
            else:
                tflite_by_mode[mode] = to_tflite(model, mode=mode, calibration=calibration if mode == "int8" else None)
            advance()
    with progress.stage("evaluation (test split)", total=len(tflite_by_mode)) as advance:
        for mode, tflite in tflite_by_mode.items():
            metrics["artifacts"][mode] = _save_artifact(recipe, run_dir, mode, tflite, metrics, data_summary,
                                                        (x_test, y_test), streaming=streaming.get(mode))
            advance()
    streaming_stage.add_agreement(run_dir, metrics["artifacts"], x_test)
    timings["export_and_evaluate_s"] = time.perf_counter() - t
    if teacher_summary is not None:
        metrics["teacher"] = teacher_summary
        metrics["scratch"] = scratch_summary
    metrics["model_bytes"] = {mode: info["model_bytes"] for mode, info in metrics["artifacts"].items()}
    if "int8" in metrics["artifacts"]:
        metrics["int8_accuracy_drop_points"] = 100 * (
            metrics["float"]["test"]["accuracy"] - metrics["artifacts"]["int8"]["test"]["accuracy"]
        )
    else:
        metrics["int8_accuracy_drop_points"] = None
    metrics["accuracy"] = metrics["float"]["test"]["accuracy"]
    metrics["timings_s"] = {**timings, "total_s": time.perf_counter() - t_start}
    metrics["train_time_s"] = history["train_time_s"]
    report.write(run_dir, metrics, history, labels)
    if recipe.compress:
        from quantize.compress.stages import apply

        apply(run_dir, recipe.compress, verbose=0 if verbose == 0 else 2)
    return run_dir

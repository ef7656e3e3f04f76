"""Recipe -> run folder: the first stage. Data, features, training, export, evaluation, report.

``run(recipe, run_dir)`` is the one entry point (``auricle train`` calls it).
Order matters: everything that can be checked cheaply (recipe keys, folders,
engines, model name, labels without audio) is checked before the run folder
is created or any audio is decoded.

The run folder (``quantize.run.Run``) holds ``recipe.yaml`` (resolved),
``data.json`` (clips per split and label), ``checkpoints/``,
``history.csv``, ``model.keras``, one artifact per export mode
(``model_int8.tflite``, ``model_streaming_int8.tflite``, ...; each an
``sdk.bundle.Bundle``), ``calibration.npy`` (the int8 calibration windows),
``metrics.json``, plots and ``report.md``. The recipe's ``compress:``
stages then map it to new folders under ``compress/``.
"""
from __future__ import annotations

import json
import logging
import pathlib
import sys
import time
from collections import Counter

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
from quantize import progress
from quantize import recipe as qrecipe
from quantize.export import embedding_stage, streaming_stage
from quantize.data.splits import SPLITS, check_labels, list_clips, load_split_features, read_sources
from quantize.recipe import Recipe
from quantize.recipe_checks import validate
from quantize.run import Run, prepare_dir

log = logging.getLogger(__name__)


def run(recipe, run_dir, *, force: bool = False, verbose: int | None = None, keep_features: bool = False) -> pathlib.Path:
    """Validate, load data, train, export every mode as a Bundle, evaluate, report; then ``compress:``.

    Returns the run folder. ``recipe``: a path, a built-in name, a dict or a
    ``Recipe``. ``keep_features`` keeps ``features.npz`` (train / val / test
    windows) so ``quantize.train.classifier.train`` can re-train on it; it is
    kept anyway when the recipe has ``compress:`` stages (they fine-tune on it).
    """
    t_start = time.perf_counter()
    recipe = qrecipe.load(recipe)
    validate(recipe)
    if pathlib.Path(run_dir).exists() and not force:
        prepare_dir(run_dir, force=False)  # an existing, non-empty folder: raises before any work
    file_sources = read_sources(recipe)
    check_labels(recipe, file_sources)
    run_ = Run.create(run_dir, labels=recipe.labels, frontend=recipe.frontend_config(),
                      detection=recipe.detection_defaults(),
                      calibration={"size": recipe.export.calibration_size, "seed": recipe.seed}, force=force)
    recipe.dump(run_.path / "recipe.yaml")
    if verbose is None:  # Keras' own lines, unless a progress display shows the epochs
        verbose = 0 if progress.active() else (1 if sys.stdout.isatty() else 2)
    timings: dict = {}

    arrays, data_summary, embeddings, embed = _data(recipe, run_, file_sources, timings)
    calibration = run_.calibration_windows(arrays.x_train)  # one draw, for the student and its control
    np.save(run_.path / streaming_stage.CALIBRATION_FILE, calibration)  # auricle export-streaming calibrates on it too
    model, history, extra = _train(recipe, run_, arrays, embeddings, embed, calibration, timings,
                                   verbose=verbose, keep_features=keep_features)
    if recipe.wakeword is not None:  # hard-negative mining rounds fine-tune the student before export
        from quantize.wakeword import stages

        t = time.perf_counter()
        model, run_.arrays, extra["wakeword"] = stages.mine_rounds(recipe, run_, model, run_.arrays, calibration,
                                                                   verbose=verbose)
        model.save(run_.path / "model.keras")
        timings["mining_s"] = time.perf_counter() - t
    metrics = _metrics(recipe, run_, model, history, arrays, data_summary)
    metrics.update(extra)
    t = time.perf_counter()
    metrics["artifacts"] = _export(recipe, run_, model, calibration, metrics, data_summary, (arrays.x_test, arrays.y_test),
                                   embeddings)
    streaming_stage.add_agreement(run_.path, metrics["artifacts"], arrays.x_test)
    timings["export_and_evaluate_s"] = time.perf_counter() - t
    if recipe.wakeword is not None:  # threshold and smoothing for the false-accept target, stored in each artifact
        t = time.perf_counter()
        metrics["wakeword"]["calibration"] = stages.calibrate_artifacts(recipe, run_, metrics["artifacts"],
                                                                        run_.clips["test"])
        timings["calibration_s"] = time.perf_counter() - t
    _summarise(metrics, history, timings, t_start)
    from quantize.export import report

    report.write(run_.path, metrics, history, recipe.labels)
    if recipe.wakeword is not None:
        with open(run_.path / "report.md", "a") as f:
            f.write("\n".join(stages.report_lines(metrics["wakeword"])) + "\n")
    if recipe.compress:
        from quantize.compress.stages import apply

        apply(run_.path, recipe.compress, arrays=run_.arrays, verbose=0 if verbose == 0 else 2)
    return run_.path


def _data(recipe: Recipe, run_: Run, file_sources, timings: dict):
    """Clips per split, then their feature windows (and teacher embeddings); writes ``data.json``."""
    from quantize.data.augment import Augmenter
    from quantize.train.fit import Arrays

    t = time.perf_counter()
    with progress.stage("data (sources, silence)"):
        splits = list_clips(recipe, run_.path, file_sources=file_sources)
    run_.clips = splits  # the wake-word calibration lays the test split's held-out voices into its stream
    data_summary = {
        split: {
            "clips": len(clips),
            "per_label": {label: sum(c.label == label for c in clips) for label in recipe.labels},
            "per_source": dict(Counter(c.source for c in clips)),
            "speakers": len({c.speaker for c in clips}),
        }
        for split, clips in splits.items()
    }
    timings["list_and_synthesize_s"] = time.perf_counter() - t
    log.info("clips per split: %s", {s: v["clips"] for s, v in data_summary.items()})

    t = time.perf_counter()
    augmenter = Augmenter(recipe.augment_config(), recipe.frontend.sample_rate, recipe.seed)
    embed = None
    if recipe.teacher is not None:
        from quantize.transfer.teach import Embedder

        embed = Embedder(recipe)
    features, embeddings, skipped = {}, {}, []
    with progress.stage("features (clips)" + (" and teacher embeddings" if embed else "")):  # a line per split
        for split, description in (("train", "  train, augmented"), ("val", "  val"), ("test", "  test")):
            train = split == "train"
            x, y, split_skipped, embeddings[split] = load_split_features(
                recipe, splits[split], augment=augmenter if train else None,
                copies=recipe.data.train_copies if train else 1, seed=recipe.seed, description=description,
                embed=embed)
            features[split] = (x, y)
            skipped += split_skipped
    timings["features_s"] = time.perf_counter() - t
    arrays = Arrays(*features["train"], *features["val"], *features["test"])
    data_summary["train"]["windows"] = int(len(arrays.x_train))
    data_summary["skipped_files"] = [{"path": p, "reason": r} for p, r in skipped]
    (run_.path / "data.json").write_text(json.dumps(data_summary, indent=2))
    return arrays, data_summary, embeddings, embed


def _train(recipe: Recipe, run_: Run, arrays, embeddings, embed, calibration, timings: dict, *, verbose: int,
           keep_features: bool):
    """The teacher (and its scratch control) when the recipe has one, then the student, in memory.

    Returns ``(model, history, extra metrics)``; saves ``model.keras``,
    ``history.json`` and, when asked or when compression follows, ``features.npz``.
    """
    from quantize.train.classifier import fit

    t = time.perf_counter()
    extra = {}
    test_arrays = arrays
    initial = None  # the student's starting weights: the hint-pretrained trunk, when the teacher gives one
    if recipe.teacher is not None:
        from quantize.transfer.teach import teach

        student_arrays, extra["teacher"], initial = teach(recipe, run_.path, arrays, embeddings, embed, verbose=verbose)
        timings["teacher_s"] = time.perf_counter() - t
        extra["scratch"] = None
        if recipe.teacher.compare_scratch:
            t = time.perf_counter()
            extra["scratch"] = _train_scratch(recipe, run_, test_arrays, calibration, verbose=verbose)
            timings["scratch_s"] = time.perf_counter() - t
        arrays = student_arrays
        t = time.perf_counter()
    model, history = fit(recipe, arrays, run_.path, verbose=verbose, initial_weights=initial)
    model.save(run_.path / "model.keras")
    (run_.path / "history.json").write_text(json.dumps(history, indent=2))
    run_.arrays = arrays  # the compression stages fine-tune on these, in memory
    if keep_features or recipe.compress:  # on disk too: a stage run later from the folder needs them
        arrays.save(run_.path / "features.npz")
    timings["train_s"] = time.perf_counter() - t
    return model, history, extra


def _train_scratch(recipe: Recipe, run_: Run, arrays, calibration, *, verbose: int) -> dict:
    """The same student trained without the teacher, exported int8: the distillation's control."""
    from quantize.export.report import classification_metrics
    from quantize.export.int8 import to_tflite
    from quantize.train.classifier import fit

    scratch = run_.child(run_.path / "scratch")
    model, history = fit(recipe.model_copy(update={"teacher": None}), arrays, scratch.path, verbose=verbose)
    tflite = to_tflite(model, mode="int8", calibration=calibration)
    artifact = scratch.write_artifact("int8", tflite, name=recipe.name, provenance={"role": "scratch"},
                                      test=(arrays.x_test, arrays.y_test))
    return {
        "float_test": classification_metrics(arrays.y_test, model.predict(arrays.x_test, verbose=0), recipe.labels),
        "int8_test": artifact["test"],
        "int8_bytes": len(tflite),
        "best_val_accuracy": max(history["val_accuracy"]),
    }


def _metrics(recipe: Recipe, run_: Run, model, history: dict, arrays, data_summary: dict) -> dict:
    from quantize.export.report import classification_metrics
    from quantize.train import zoo

    float_scores = model.predict(arrays.x_test, batch_size=256, verbose=0)
    return {
        "name": recipe.name,
        **run_.metadata(),
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
        "float": {"test": classification_metrics(arrays.y_test, float_scores, recipe.labels)},
        "artifacts": {},
    }


def _export(recipe: Recipe, run_: Run, model, calibration, metrics: dict, data_summary: dict, test,
            embeddings: dict) -> dict:
    """Every ``export.modes`` entry as a Bundle, evaluated on the test windows; its accuracy in its provenance.

    ``embedding_int8`` is the teacher's head, scored on the test split's embeddings."""
    from quantize.export.int8 import to_tflite

    student_modes = [m for m in recipe.export.modes if m != embedding_stage.MODE]
    with progress.stage("export (TFLite)", total=len(student_modes)) as advance:
        tflite_by_mode, streaming = {}, {}
        for mode in student_modes:
            if mode == streaming_stage.MODE:  # the same calibration windows, each streamed from zero state
                tflite_by_mode[mode], streaming[mode] = streaming_stage.convert(
                    model, calibration, frames_per_step=streaming_stage.frames_per_step(recipe))
            else:
                tflite_by_mode[mode] = to_tflite(model, mode=mode, calibration=calibration if mode == "int8" else None)
            advance()
    provenance = {
        "recipe": recipe.resolved(),
        "data": {s: {k: v for k, v in data_summary[s].items() if k != "per_source"} for s in SPLITS},
        "model": metrics["model"],
    }
    float_accuracy = metrics["float"]["test"]["accuracy"]
    artifacts = {}
    with progress.stage("evaluation (test split)", total=len(tflite_by_mode)) as advance:
        for mode, tflite in tflite_by_mode.items():
            def with_accuracy(evaluation, mode=mode):
                return {**provenance, "metrics": {"float_test_accuracy": float_accuracy,
                                                  f"{mode}_test_accuracy": evaluation["accuracy"]}}

            artifacts[mode] = run_.write_artifact(mode, tflite, name=recipe.name, provenance=with_accuracy, test=test,
                                                  streaming=streaming.get(mode),
                                                  evaluator=streaming_stage.evaluate_windows if mode in streaming else None)
            advance()
    if embedding_stage.MODE in recipe.export.modes:
        with progress.stage("export (teacher head on the speech embedding)"):
            teacher_accuracy = metrics["teacher"]["test"]["accuracy"]
            artifacts[embedding_stage.MODE] = embedding_stage.export(
                recipe, run_, embeddings, test[1], provenance=lambda evaluation: {
                    **provenance, "model": {"name": "embedding_head", "role": "teacher"},
                    "metrics": {"float_test_accuracy": teacher_accuracy,
                                f"{embedding_stage.MODE}_test_accuracy": evaluation["accuracy"]}})
    return artifacts


def _summarise(metrics: dict, history: dict, timings: dict, t_start: float) -> None:
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

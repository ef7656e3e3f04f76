"""Streaming int8 export as a stage: the recipe's ``export.modes: [..., streaming_int8]``
and ``auricle export-streaming RUN``.

The streaming artifact (``model_streaming_int8.tflite``) is the window model
converted by ``quantize.export.streaming``: each step takes one detection hop
of new feature frames plus the carried state, and the ``Detector`` runs it
statefully. It is int8-calibrated on the same windows as ``model_int8.tflite``
(each streamed from zero state), and scored on the test windows the same way,
so its test accuracy sits next to the window model's.

Only a model whose every layer streams converts (see ``quantize.export.streaming``);
``check`` builds the recipe's model, untrained, when the recipe is validated, so
a model that cannot stream is refused before any audio is read.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from sdk.errors import ConfigError

MODE = "streaming_int8"
FILENAME = f"model_{MODE}.tflite"
CALIBRATION_FILE = "calibration.npy"  # the int8 calibration windows, kept in the run folder for later stages
# What streams in the zoo (quantize.train.zoo): the rest pads or strides in time, branches, or runs a GRU.
STREAMABLE_HINT = "ds_cnn_s / ds_cnn_m / ds_cnn_l and cnn_small stream with model.params {streamable: true}"


def frames_per_step(recipe) -> int:
    """One detection hop of feature frames: the Detector then runs one step per inference point."""
    frontend = recipe.frontend_config()
    return max(1, int(round(recipe.detection.hop_s * 1000 / frontend.hop_ms)))


def check(recipe) -> None:
    """``ConfigError`` naming the model and the layer when the recipe asks for a streaming
    artifact from a model that cannot stream (builds the model untrained: about a second)."""
    if MODE not in recipe.export.modes:
        return
    from quantize.export.streaming import to_streaming
    from quantize.train import zoo

    frontend = recipe.frontend_config()
    model = zoo.build(recipe.model.name, (frontend.clip_frames, frontend.num_features), len(recipe.labels),
                      **recipe.model.params)
    try:
        to_streaming(model, frames_per_step=frames_per_step(recipe))
    except ConfigError as exc:
        raise ConfigError(
            f"{recipe.source}: export.modes asks for {MODE!r}, but model {recipe.model.name!r} "
            f"(params {recipe.model.params}) cannot stream: {exc}. {STREAMABLE_HINT}"
        ) from None


def convert(model, calibration: np.ndarray, *, frames_per_step: int) -> tuple[bytes, dict]:
    """``(int8 TFLite bytes, the Bundle's streaming entry)`` of a trained window model."""
    from quantize.export.streaming import streaming_metadata, to_streaming, to_streaming_tflite

    streaming = to_streaming(model, frames_per_step=frames_per_step)
    tflite = to_streaming_tflite(streaming, mode="int8", calibration=calibration)
    return tflite, streaming_metadata(streaming)


def predict_windows(bundle, windows: np.ndarray) -> np.ndarray:
    """Scores ``(windows, classes)``: each window streamed from zero state; the scores after its last frame."""
    from quantize.export.streaming import whole_steps
    from sdk.streaming import StreamingEngine

    engine = StreamingEngine(bundle)
    step = engine.frames_per_step
    out = []
    for frames in whole_steps(np.asarray(windows, np.float32), step):
        engine.reset()
        for start in range(0, frames.shape[0], step):
            scores = engine.step(frames[start : start + step])
        out.append(scores)
    return np.stack(out)


def evaluate_windows(bundle, x, y, labels) -> dict:
    """``quantize.run.evaluate`` for a streaming artifact: each window streamed from zero state."""
    from quantize.export.report import classification_metrics

    return classification_metrics(y, predict_windows(bundle, x), labels)


def agreement(streaming_scores: np.ndarray, window_scores: np.ndarray) -> dict:
    """How closely the streaming artifact follows the window artifact on the same windows."""
    return {
        "windows": int(len(window_scores)),
        "top1_agreement": float(np.mean(streaming_scores.argmax(1) == window_scores.argmax(1))),
        "max_score_difference": float(np.max(np.abs(streaming_scores - window_scores))),
    }


def add_agreement(run_dir, artifacts: dict, windows: np.ndarray) -> None:
    """``artifacts[streaming_int8]``: its ``frames_per_step``, and ``agreement_with_int8`` on
    ``windows`` when the run has both artifacts."""
    if MODE not in artifacts:
        return
    from sdk.bundle import Bundle
    from sdk.engine import Engine

    run_dir = pathlib.Path(run_dir)
    streaming = Bundle.load(run_dir / artifacts[MODE]["file"])
    artifacts[MODE]["frames_per_step"] = int(streaming.streaming["frames_per_step"])
    if "int8" not in artifacts:
        return
    window_scores = Engine(Bundle.load(run_dir / artifacts["int8"]["file"])).predict_batch(windows)[0]
    streaming_scores = predict_windows(streaming, windows)
    artifacts[MODE]["agreement_with_int8"] = agreement(streaming_scores, window_scores)


def convert_run(run_dir, *, out=None, force: bool = False, calibration=None) -> pathlib.Path:
    """A trained run folder -> ``out`` (default ``RUN/streaming``) holding the streaming artifact and metrics.json.

    Calibration: ``calibration`` (a ``.npy`` of feature windows) or the run's
    ``calibration.npy``, the windows that calibrated its ``model_int8.tflite``.
    """
    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    from quantize import recipe as qrecipe
    from quantize.run import prepare_dir, to_bundle
    from sdk.bundle import Bundle
    from sdk.engine import Engine

    run_dir = pathlib.Path(run_dir)
    for name in ("recipe.yaml", "model.keras"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir}: not a trained run folder (no {name})")
    calibration_path = pathlib.Path(calibration) if calibration else run_dir / CALIBRATION_FILE
    if not calibration_path.is_file():
        raise ConfigError(f"{calibration_path}: no calibration windows; pass --calibration WINDOWS.npy "
                          "(feature windows, shape (n, clip_frames, features)) or re-train to get one")
    recipe = qrecipe.load(run_dir / "recipe.yaml")
    modes = [m for m in recipe.export.modes if m != MODE] + [MODE]
    recipe = recipe.model_copy(update={"export": recipe.export.model_copy(update={"modes": modes})})
    check(recipe)
    windows = np.load(calibration_path)
    frontend = recipe.frontend_config()
    if windows.ndim != 3 or windows.shape[1:] != (frontend.clip_frames, frontend.num_features):
        raise ConfigError(f"{calibration_path}: windows of shape {windows.shape}, expected "
                          f"(n, {frontend.clip_frames}, {frontend.num_features}) for this run's front end")
    out_dir = prepare_dir(pathlib.Path(out) if out else run_dir / "streaming", force=force)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe.dump(out_dir / "recipe.yaml")
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    step = frames_per_step(recipe)
    tflite, streaming = convert(model, windows, frames_per_step=step)
    provenance = {"recipe": recipe.resolved(), "export_mode": MODE, "from_run": str(run_dir)}
    bundle = to_bundle(tflite, frontend=frontend, labels=recipe.labels, name=recipe.name,
                       detection=recipe.detection_defaults(), provenance=provenance, streaming=streaming)
    bundle.save(out_dir / FILENAME)
    info = {"file": FILENAME, "model_bytes": len(tflite), "bundle_bytes": len(bundle.model), "frames_per_step": step}
    window_path = run_dir / "model_int8.tflite"
    if window_path.is_file():  # the same calibration windows through both artifacts
        window_scores = Engine(Bundle.load(window_path)).predict_batch(windows)[0]
        info["agreement_with_int8"] = agreement(predict_windows(bundle, windows), window_scores)
    metrics = {"name": recipe.name, "from_run": str(run_dir), "model": {"name": recipe.model.name},
               "artifacts": {MODE: info}}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return out_dir

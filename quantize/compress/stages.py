"""Compression stages on run folders: each maps a run folder to a new one.

A run folder (from training or from an earlier stage) holds ``model.keras``
and ``metrics.json`` with ``labels`` and ``frontend``; the feature arrays to
fine-tune on are ``features.npz`` in the folder (``x_train, y_train, x_val,
y_val[, x_test, y_test]``) or the file that ``metrics.json["features"]``
names. Each stage writes into its own new folder:

- ``model.keras`` (float stages; the QAT model is not saved as Keras),
- artifacts as ``sdk.bundle.Bundle`` files: ``model_float32.tflite`` and
  ``model_int8.tflite`` (post-training, per-channel) for float stages; QAT
  writes its own ``model_int8.tflite``; ``ptq`` writes every mode it lists,
- ``metrics.json``: labels, front end, params, MACs, what the stage did, and
  accuracy / macro F1 / bytes of each artifact on the test windows,
- ``stage.json``: the resolved stage options.

:func:`apply` checks every stage (and every teacher folder) before any work
and refuses to overwrite an existing output folder.
"""
from __future__ import annotations

import gzip
import json
import pathlib
import shutil
from dataclasses import dataclass

import numpy as np

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
import tf_keras as keras

from quantize.compress import recipe as compress_recipe
from quantize.train.fit import Arrays
from sdk.bundle import Bundle, Head
from sdk.errors import ConfigError, ModelError
from sdk.frontend import FrontEndConfig

BACKGROUND = ("_unknown_", "_silence_")


@dataclass
class Run:
    """A loaded run folder."""

    path: pathlib.Path
    labels: list
    frontend: FrontEndConfig
    metrics: dict
    features_path: pathlib.Path | None

    def model(self):
        return load_model(self.path / "model.keras")

    def data(self) -> Arrays:
        if self.features_path is None:
            raise ConfigError(
                f"{self.path}: no features.npz and no metrics.json 'features' entry; pass the arrays with "
                "--data FILE.npz (x_train, y_train, x_val, y_val, x_test, y_test)"
            )
        return Arrays.load(self.features_path)


def load_model(path):
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load Keras model ({exc})") from None


def open_run(path, *, data=None) -> Run:
    """Read a run folder's metadata; ``ConfigError`` if it is not one."""
    path = pathlib.Path(path)
    metrics_path = path / "metrics.json"
    if not (path / "model.keras").is_file() or not metrics_path.is_file():
        raise ConfigError(f"{path}: not a run folder (needs model.keras and metrics.json)")
    try:
        metrics = json.loads(metrics_path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{metrics_path}: not valid JSON ({exc})") from None
    if "labels" not in metrics or "frontend" not in metrics:
        raise ConfigError(f"{metrics_path}: needs 'labels' and 'frontend' entries")
    if data is not None:
        features = pathlib.Path(data)
    elif (path / "features.npz").is_file():
        features = path / "features.npz"
    elif metrics.get("features"):
        features = pathlib.Path(metrics["features"])
    else:
        features = None
    if features is not None and not features.is_file():
        raise ConfigError(f"{path}: feature arrays {features} do not exist")
    return Run(path, list(metrics["labels"]), FrontEndConfig.from_dict(metrics["frontend"]), metrics,
               None if features is None else features.resolve())


# ---------------------------------------------------------------- artifacts


def make_bundle(tflite: bytes, run: Run, *, name: str, mode: str, provenance: dict) -> Bundle:
    background = tuple(label for label in run.labels if label in BACKGROUND)
    return Bundle.create(tflite, frontend=run.frontend, heads=[Head("output", tuple(run.labels), background)],
                         name=name, provenance={**provenance, "export_mode": mode})


def write_artifacts(model, run: Run, out: pathlib.Path, data: Arrays, *, modes, name: str, provenance: dict,
                    tflite_by_mode: dict | None = None) -> dict:
    """Convert (or take ``tflite_by_mode``), wrap as Bundles, evaluate on the test windows, save."""
    from quantize.compress.report import evaluate
    from quantize.export.int8 import to_tflite

    rng = np.random.default_rng(0)
    calibration = data.x_train[rng.permutation(len(data.x_train))[:500]]
    out_artifacts = {}
    for mode in modes:
        if tflite_by_mode and mode in tflite_by_mode:
            tflite = tflite_by_mode[mode]
        else:
            tflite = to_tflite(model, mode=mode, calibration=calibration if mode in ("int8", "int16x8") else None)
        bundle = make_bundle(tflite, run, name=name, mode=mode, provenance=provenance)
        filename = f"model_{mode}.tflite"
        bundle.save(out / filename)
        entry = {"file": filename, "tflite_bytes": len(bundle.model), "gzip_bytes": len(gzip.compress(bundle.model, 9))}
        if data.x_test is not None:
            entry["test"] = evaluate(bundle, data.x_test, data.y_test)
        out_artifacts[mode] = entry
    return out_artifacts


def _finish(out: pathlib.Path, run: Run, stage, model, info: dict, data: Arrays, *, modes, tflite_by_mode=None,
            save_keras: bool = True, counted_model=None) -> pathlib.Path:
    from quantize.train import zoo
    from quantize.train.fit import accuracy

    counted = counted_model or model
    out.mkdir(parents=True)
    if save_keras:
        model.save(out / "model.keras")
    provenance = {"compress_stage": stage.kind, "source_run": str(run.path), "stage": stage.model_dump()}
    metrics = {
        "labels": run.labels,
        "frontend": run.frontend.to_dict(),
        "features": str(run.features_path),
        "source_run": str(run.path),
        "stage": stage.model_dump(),
        "model": {"params": zoo.count_params(counted), "macs": zoo.count_macs(counted)},
        "info": info,
    }
    if data.x_test is not None and save_keras:
        metrics["accuracy"] = accuracy(model, data.x_test, data.y_test)
    metrics["artifacts"] = write_artifacts(model, run, out, data, modes=modes, name=f"{out.name}",
                                           provenance=provenance, tflite_by_mode=tflite_by_mode)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
    (out / "stage.json").write_text(json.dumps(stage.model_dump(), indent=2))
    return out


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ------------------------------------------------------------------- stages


def check_teachers(run: Run, stage) -> list[Run]:
    """Open the teacher runs and check their labels and front end against the student's."""
    teachers = [open_run(t) for t in stage.teachers] or [run]
    for t in teachers:
        if t.labels != run.labels:
            raise ConfigError(f"distill: teacher {t.path} labels {t.labels} differ from the student's {run.labels}")
        if t.frontend != run.frontend:
            raise ConfigError(f"distill: teacher {t.path} uses a different front end than {run.path}")
    return teachers


def run_stage(stage, run: Run, out: pathlib.Path, *, verbose: int = 0) -> pathlib.Path:
    """Apply one stage to ``run``; write the new run folder ``out``."""
    data = run.data()
    model = run.model()
    float_modes = ("float32", "int8")
    if stage.kind == "distill":
        from quantize.train import zoo
        from quantize.compress.distill import DistillConfig, check_pair, distill

        teachers = [t.model() for t in check_teachers(run, stage)]
        if stage.student is not None:
            zoo.check_params(stage.student.name, stage.student.params)
            student = zoo.build(stage.student.name, data.x_train.shape[1:], len(run.labels), **stage.student.params)
        elif stage.teachers:
            student = model
        else:
            raise ConfigError("distill: give a student (zoo model) or a teacher run folder; the input run "
                              "cannot teach itself")
        check_pair(student, teachers)
        cfg = DistillConfig(temperature=stage.temperature, alpha=stage.alpha, feature_layers=stage.feature_layers,
                            feature_weight=stage.feature_weight, fit=stage.plan())
        student, history = distill(student, teachers, data.x_train, data.y_train,
                                   validation=(data.x_val, data.y_val), config=cfg, verbose=verbose)
        info = {"teachers": [str(t) for t in (stage.teachers or [run.path])],
                "best_val_accuracy": float(max(history.get("val_accuracy", [float("nan")])))}
        return _finish(out, run, stage, student, info, data, modes=float_modes)
    if stage.kind == "prune":
        from quantize.compress.prune import PruneConfig, prune

        cfg = PruneConfig(sparsity=stage.sparsity, exclude=tuple(stage.exclude),
                          schedule_fraction=stage.schedule_fraction, fit=stage.plan())
        pruned, info = prune(model, data, cfg, verbose=verbose)
        return _finish(out, run, stage, pruned, info, data, modes=float_modes)
    if stage.kind == "prune_channels":
        from quantize.compress.channels import ChannelPruneConfig, prune_channels

        cfg = ChannelPruneConfig(fraction=stage.fraction, exclude=tuple(stage.exclude), round_to=stage.round_to,
                                 fit=stage.fit_plan())
        small, info = prune_channels(model, cfg, data, verbose=verbose)
        return _finish(out, run, stage, small, info, data, modes=float_modes)
    if stage.kind == "cluster":
        from quantize.compress.cluster import ClusterConfig, cluster

        cfg = ClusterConfig(clusters=stage.clusters, per_layer=dict(stage.per_layer), exclude=tuple(stage.exclude),
                            fit=stage.fit_plan())
        clustered, info = cluster(model, data, cfg, verbose=verbose)
        return _finish(out, run, stage, clustered, info, data, modes=float_modes)
    if stage.kind == "qat":
        from quantize.export.int8 import to_tflite
        from quantize.compress.qat import QatConfig, quantize_aware

        cfg = QatConfig(scheme=stage.scheme, fit=stage.plan())
        qat_model, info = quantize_aware(model, data, cfg, verbose=verbose)
        rng = np.random.default_rng(0)
        calibration = data.x_train[rng.permutation(len(data.x_train))[:500]]
        tflite = to_tflite(qat_model, mode="int8", calibration=calibration)
        return _finish(out, run, stage, qat_model, info, data, modes=("int8",), tflite_by_mode={"int8": tflite},
                       save_keras=False, counted_model=model)
    if stage.kind == "ptq":
        return _finish(out, run, stage, model, {}, data, modes=tuple(stage.modes), save_keras=False)
    raise ConfigError(f"compress: unknown stage {stage.kind!r}")


def apply(run_dir, stages, *, out_dir=None, data=None, force: bool = False, verbose: int = 0) -> list[pathlib.Path]:
    """Apply ``stages`` (a parsed list, a ``compress:`` list, or a YAML path) in order.

    Stage ``i`` writes ``<out_dir>/<i+1:02d>_<stage>``; ``out_dir`` defaults to
    ``<run_dir>/compress``. Returns the folders written, in order.
    """
    if isinstance(stages, (str, pathlib.Path)):
        stages = compress_recipe.load(stages)
    elif stages and not all(hasattr(s, "kind") for s in stages):
        stages = compress_recipe.parse(stages)
    run = open_run(run_dir, data=data)
    if run.features_path is None:
        run.data()  # raises the explanatory ConfigError
    for stage in stages:  # check all before any work
        if stage.kind == "distill":
            check_teachers(run, stage)
            if stage.student is not None:
                from quantize.train import zoo

                zoo.check_params(stage.student.name, stage.student.params)
    out_root = pathlib.Path(out_dir) if out_dir else pathlib.Path(run_dir) / "compress"
    outs = [out_root / f"{i + 1:02d}_{s.kind}" for i, s in enumerate(stages)]
    existing = [str(o) for o in outs if o.exists()]
    if existing and not force:
        raise ConfigError(f"compress: output folder(s) {existing} exist; remove them or pass force")
    for o in outs:
        if o.exists():
            shutil.rmtree(o)
    written = []
    for stage, out in zip(stages, outs):
        out = run_stage(stage, run, out, verbose=verbose)
        written.append(out)
        if stage.kind not in ("qat", "ptq"):
            run = open_run(out, data=run.features_path)
    return written

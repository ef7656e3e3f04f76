"""Compression stages on run folders: each maps a run folder to a new one.

A run folder (``quantize.run.Run``, from training or from an earlier stage) holds ``model.keras``
and ``metrics.json`` with ``labels`` and ``frontend``; the feature arrays to
fine-tune on are ``features.npz`` in the folder (``x_train, y_train, x_val,
y_val[, x_test, y_test]``) or the file that ``metrics.json["features"]``
names. Each stage writes into its own new folder:

- ``model.keras`` (float stages; the QAT model is not saved as Keras),
- artifacts as ``sdk.bundle.Bundle`` files: ``model_float32.tflite`` and
  ``model_int8.tflite`` (post-training, per-channel) for float stages; QAT
  writes its own ``model_int8.tflite``; ``ptq`` writes every mode it lists,
- ``metrics.json``: labels, front end, detection defaults and calibration
  settings (inherited, so every artifact keeps the recipe's ``detection:``),
  params, MACs, what the stage did, and accuracy / macro F1 / bytes of each
  artifact on the test windows,
- ``stage.json``: the resolved stage options; ``report.md``: a short summary.

:func:`apply` checks every stage (and every teacher folder) before any work
and refuses to overwrite an existing output folder.
"""
from __future__ import annotations

import json
import pathlib
import shutil

import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)

from quantize.compress import recipe as compress_recipe
from quantize.run import Run, json_default
from quantize.train.fit import Arrays
from sdk.errors import ConfigError

FLOAT_MODES = ("float32", "int8")


def open_run(path, *, data=None) -> Run:
    """Read a run folder's metadata; ``ConfigError`` if it is not one (``Run.open``)."""
    return Run.open(path, data=data)


def write_artifacts(model, run: Run, out: Run, data: Arrays, *, modes, name: str, provenance: dict,
                    tflite_by_mode: dict | None = None) -> dict:
    """Convert (or take ``tflite_by_mode``), evaluate on the test windows, save as Bundles in ``out``."""
    from quantize.export.int8 import to_tflite

    calibration = run.calibration_windows(data.x_train)
    artifacts = {}
    for mode in modes:
        if tflite_by_mode and mode in tflite_by_mode:
            tflite = tflite_by_mode[mode]
        else:
            tflite = to_tflite(model, mode=mode, calibration=calibration if mode in ("int8", "int16x8") else None)
        artifacts[mode] = out.write_artifact(mode, tflite, name=name, provenance=provenance,
                                             test=(data.x_test, data.y_test))
    return artifacts


def _finish(out_path: pathlib.Path, run: Run, stage, model, info: dict, data: Arrays, *, modes, tflite_by_mode=None,
            save_keras: bool = True, counted_model=None) -> pathlib.Path:
    from quantize.train import zoo
    from quantize.train.fit import accuracy

    counted = counted_model or model
    out = run.child(out_path)
    if save_keras:
        model.save(out.path / "model.keras")
    provenance = {"compress_stage": stage.kind, "source_run": str(run.path), "stage": stage.model_dump()}
    metrics = {
        "features": str(run.features_path),
        "source_run": str(run.path),
        "stage": stage.model_dump(),
        "model": {"params": zoo.count_params(counted), "macs": zoo.count_macs(counted)},
        "info": info,
    }
    if data.x_test is not None and save_keras:
        metrics["accuracy"] = accuracy(model, data.x_test, data.y_test)
    metrics["artifacts"] = write_artifacts(model, run, out, data, modes=modes, name=out.path.name,
                                           provenance=provenance, tflite_by_mode=tflite_by_mode)
    out.write_metrics(metrics)
    out.write_report(f"{out.path.name}: {stage.kind} of {run.path}", [
        f"{metrics['model']['params']:,} parameters, {metrics['model']['macs']:,} MACs per window.",
        f"What the stage did: {json.dumps(info, default=json_default)}"])
    (out.path / "stage.json").write_text(json.dumps(stage.model_dump(), indent=2, default=json_default))
    return out.path


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


def _distill(stage, run: Run, model, data: Arrays, verbose: int):
    from quantize.compress.distill import DistillConfig, check_pair, distill
    from quantize.train import zoo

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
    return student, info


def _prune(stage, run: Run, model, data: Arrays, verbose: int):
    from quantize.compress.prune import PruneConfig, prune

    cfg = PruneConfig(sparsity=stage.sparsity, exclude=tuple(stage.exclude),
                      schedule_fraction=stage.schedule_fraction, fit=stage.plan())
    return prune(model, data, cfg, verbose=verbose)


def _prune_channels(stage, run: Run, model, data: Arrays, verbose: int):
    from quantize.compress.channels import ChannelPruneConfig, prune_channels

    cfg = ChannelPruneConfig(fraction=stage.fraction, exclude=tuple(stage.exclude), round_to=stage.round_to,
                             fit=stage.fit_plan())
    return prune_channels(model, cfg, data, verbose=verbose)


def _cluster(stage, run: Run, model, data: Arrays, verbose: int):
    from quantize.compress.cluster import ClusterConfig, cluster

    cfg = ClusterConfig(clusters=stage.clusters, per_layer=dict(stage.per_layer), exclude=tuple(stage.exclude),
                        fit=stage.fit_plan())
    return cluster(model, data, cfg, verbose=verbose)


FLOAT_STAGES = {"distill": _distill, "prune": _prune, "prune_channels": _prune_channels, "cluster": _cluster}


def run_stage(stage, run: Run, out: pathlib.Path, *, verbose: int = 0) -> pathlib.Path:
    """Apply one stage to ``run``; write the new run folder ``out``."""
    data = run.data()
    model = run.model()
    if stage.kind in FLOAT_STAGES:
        result, info = FLOAT_STAGES[stage.kind](stage, run, model, data, verbose)
        return _finish(out, run, stage, result, info, data, modes=FLOAT_MODES)
    if stage.kind == "qat":
        from quantize.compress.qat import QatConfig, quantize_aware
        from quantize.export.int8 import to_tflite

        cfg = QatConfig(scheme=stage.scheme, fit=stage.plan())
        qat_model, info = quantize_aware(model, data, cfg, verbose=verbose)
        tflite = to_tflite(qat_model, mode="int8", calibration=run.calibration_windows(data.x_train))
        return _finish(out, run, stage, qat_model, info, data, modes=("int8",), tflite_by_mode={"int8": tflite},
                       save_keras=False, counted_model=model)
    if stage.kind == "ptq":
        return _finish(out, run, stage, model, {}, data, modes=tuple(stage.modes), save_keras=False)
    raise ConfigError(f"compress: unknown stage {stage.kind!r}")


def apply(run_dir, stages, *, out_dir=None, data=None, arrays: Arrays | None = None, force: bool = False,
          verbose: int = 0) -> list[pathlib.Path]:
    """Apply ``stages`` (a parsed list, a ``compress:`` list, or a YAML path) in order.

    Stage ``i`` writes ``<out_dir>/<i+1:02d>_<stage>``; ``out_dir`` defaults to
    ``<run_dir>/compress``. Returns the folders written, in order. ``data``: a
    features ``.npz`` other than the run's; ``arrays``: the run's feature arrays
    already in memory (training hands them over rather than reading them back).
    """
    if isinstance(stages, (str, pathlib.Path)):
        stages = compress_recipe.load(stages)
    elif stages and not all(hasattr(s, "kind") for s in stages):
        stages = compress_recipe.parse(stages)
    run = open_run(run_dir, data=data)
    run.arrays = arrays
    if run.features_path is None and arrays is None:
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
            arrays = run.arrays
            run = open_run(out, data=run.features_path)
            run.arrays = arrays
    return written

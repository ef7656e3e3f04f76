"""A run folder: what every training stage reads and writes.

Training maps a recipe to a run folder (``quantize.pipeline.run``); every
later stage (``quantize.compress.stages``) maps a run folder to a new one.
Each writes the same things through :class:`Run`:

- what ran: ``recipe.yaml`` (training) or ``stage.json`` (a later stage),
- ``model.keras`` (when the stage has a float Keras model),
- one artifact per export mode, ``model_<mode>.tflite``, each an
  ``sdk.bundle.Bundle`` made by :func:`to_bundle` (the one model -> Bundle
  path) and evaluated on the test windows through the sdk ``Engine``,
- ``metrics.json``: labels, front end, detection defaults and calibration
  settings (so the next stage inherits them), plus what the stage measured,
- ``report.md``.

One place chooses what every artifact carries: background labels
(:func:`quantize.data.labels.background_of`), detection defaults (the
recipe's ``detection:`` section, carried from folder to folder) and the int8
calibration windows (:meth:`Run.calibration_windows`).
"""
from __future__ import annotations

import gzip
import json
import pathlib
import shutil
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import yaml

from quantize.data.labels import background_of
from sdk.bundle import Bundle, DetectionDefaults, Head
from sdk.errors import ConfigError, ModelError
from sdk.frontend import FrontEndConfig

DEFAULT_CALIBRATION = {"size": 500, "seed": 0}


def to_bundle(tflite: bytes, *, frontend: FrontEndConfig, labels=None, heads=None, name: str,
              detection: DetectionDefaults | None = None, provenance: dict | None = None, **options) -> Bundle:
    """The one model -> Bundle path. ``labels``: one head named ``output`` whose background labels
    (``_unknown_``, ``_silence_``) are marked; or ``heads`` for several outputs. ``options``:
    ``task``, ``aggregate``, ``streaming`` as ``Bundle.create`` takes them."""
    if labels is not None:
        heads = [Head("output", tuple(labels), background_of(labels))]
    return Bundle.create(tflite, frontend=frontend, heads=heads, name=name, detection=detection,
                         provenance=provenance, **options)


def calibration_windows(x: np.ndarray, *, size: int, seed: int) -> np.ndarray:
    """``size`` training windows drawn without replacement (seeded): int8 calibration data."""
    return x[np.random.default_rng(seed).permutation(len(x))[:size]]


def evaluate(model, x, y, labels) -> dict:
    """Accuracy, macro F1, per-class figures and confusion of an artifact (Bundle or .tflite bytes) on
    feature windows, run by the sdk ``Engine`` (LiteRT + XNNPACK, 1 thread) as a device runs it."""
    from quantize.export.report import classification_metrics
    from sdk.engine import Engine

    return classification_metrics(y, Engine(model, threads=1).predict_batch(x)[0], labels)


def prepare_dir(path, *, force: bool) -> pathlib.Path:
    """Refuse an existing run folder unless ``force`` (then it must look like a run: recipe.yaml or stage.json)."""
    path = pathlib.Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not force:
            raise ConfigError(f"{path}: run folder already exists; choose another --out or pass --force to replace it")
        if not ((path / "recipe.yaml").is_file() or (path / "stage.json").is_file()):
            raise ConfigError(
                f"{path}: exists and is not an Auricle run folder (no recipe.yaml); not replacing it even with --force"
            )
        shutil.rmtree(path)
    return path


def json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def load_model(path):
    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load Keras model ({exc})") from None


@dataclass
class Run:
    """A run folder and what every artifact made in it carries."""

    path: pathlib.Path
    labels: list
    frontend: FrontEndConfig
    detection: DetectionDefaults = field(default_factory=DetectionDefaults)
    calibration: dict = field(default_factory=lambda: dict(DEFAULT_CALIBRATION))
    metrics: dict = field(default_factory=dict)
    features_path: pathlib.Path | None = None
    arrays: object = field(default=None, repr=False)  # the feature arrays, once loaded (or handed over in memory)
    clips: dict | None = field(default=None, repr=False)  # the clips of each split, when this run listed them

    # ------------------------------------------------------------ open / create

    @classmethod
    def create(cls, path, *, labels, frontend: FrontEndConfig, detection: DetectionDefaults | None = None,
               calibration: dict | None = None, features_path=None, force: bool = False) -> "Run":
        """A new, empty run folder (refuses an existing one unless ``force``)."""
        path = prepare_dir(path, force=force)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, list(labels), frontend, detection or DetectionDefaults(),
                   {**DEFAULT_CALIBRATION, **(calibration or {})}, {}, features_path)

    @classmethod
    def open(cls, path, *, data=None) -> "Run":
        """Read a run folder's metadata; ``ConfigError`` if it is not one.

        Detection defaults come from ``metrics.json`` (every stage writes them) or, in a
        training folder written before they were, from its ``recipe.yaml``.
        """
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
        features = _features_path(path, metrics, data)
        return cls(path, list(metrics["labels"]), FrontEndConfig.from_dict(metrics["frontend"]),
                   _detection(path, metrics), {**DEFAULT_CALIBRATION, **metrics.get("calibration", {})}, metrics,
                   features)

    def child(self, path, *, force: bool = False) -> "Run":
        """A new run folder that inherits labels, front end, detection, calibration and features."""
        child = Run.create(path, labels=self.labels, frontend=self.frontend, detection=self.detection,
                           calibration=self.calibration, features_path=self.features_path, force=force)
        child.arrays = self.arrays
        return child

    # ------------------------------------------------------------------ inputs

    def model(self):
        return load_model(self.path / "model.keras")

    def data(self):
        """The feature arrays: those in memory, else ``features_path`` (read once)."""
        from quantize.train.fit import Arrays

        if self.arrays is not None:
            return self.arrays
        if self.features_path is None:
            raise ConfigError(
                f"{self.path}: no features.npz and no metrics.json 'features' entry; pass the arrays with "
                "--data FILE.npz (x_train, y_train, x_val, y_val, x_test, y_test)"
            )
        self.arrays = Arrays.load(self.features_path)
        return self.arrays

    def calibration_windows(self, x_train: np.ndarray) -> np.ndarray:
        return calibration_windows(x_train, size=self.calibration["size"], seed=self.calibration["seed"])

    # ----------------------------------------------------------------- outputs

    def bundle(self, tflite: bytes, *, name: str, provenance: dict, streaming: dict | None = None,
               frontend: FrontEndConfig | None = None) -> Bundle:
        return to_bundle(tflite, frontend=frontend or self.frontend, labels=self.labels, name=name,
                         detection=self.detection, provenance=provenance, streaming=streaming)

    def write_artifact(self, mode: str, tflite: bytes, *, name: str, provenance: dict | Callable[[dict], dict],
                       test=None, streaming: dict | None = None, evaluator: Callable | None = None,
                       frontend: FrontEndConfig | None = None) -> dict:
        """Evaluate ``tflite`` on the ``test`` windows ``(x, y)`` (if given), wrap it as a Bundle once,
        save ``model_<mode>.tflite``. ``provenance`` may be a function of the evaluation; ``frontend``
        replaces the run's (the teacher's artifact runs on the speech embedding).

        A streaming model (``streaming``: its Bundle entry) runs only as a Bundle, so it is
        wrapped once more to be evaluated, by ``evaluator(bundle, x, y, labels)``."""
        evaluation = None
        if test is not None and test[0] is not None:
            model = self.bundle(tflite, name=name, provenance={}, streaming=streaming) if streaming else tflite
            evaluation = (evaluator or evaluate)(model, *test, self.labels)
        if callable(provenance):
            provenance = provenance(evaluation)
        bundle = self.bundle(tflite, name=name, provenance={"export_mode": mode, **provenance}, streaming=streaming,
                             frontend=frontend)
        filename = f"model_{mode}.tflite"
        bundle.save(self.path / filename)
        entry = {"file": filename, "model_bytes": len(tflite), "bundle_bytes": len(bundle.model),
                 "tflite_bytes": len(bundle.model), "gzip_bytes": len(gzip.compress(bundle.model, 9))}
        if evaluation is not None:
            entry["test"] = evaluation
        return entry

    def metadata(self) -> dict:
        """What the next stage needs from ``metrics.json``: labels, front end, detection, calibration."""
        return {"labels": list(self.labels), "frontend": self.frontend.to_dict(),
                "detection": asdict(self.detection), "calibration": dict(self.calibration)}

    def write_metrics(self, metrics: dict) -> dict:
        """``metrics.json``: :meth:`metadata` first, then ``metrics``."""
        metrics = {**self.metadata(), **metrics}
        (self.path / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default))
        self.metrics = metrics
        return metrics

    def write_report(self, title: str, lines: list[str]) -> pathlib.Path:
        """``report.md``: a title, the given lines, and a table of the artifacts in ``metrics.json``."""
        rows = ["| artifact | bytes | gzip bytes | test accuracy | macro F1 |", "|---|---:|---:|---:|---:|"]
        for mode, info in self.metrics.get("artifacts", {}).items():
            test = info.get("test")
            quality = f"{100 * test['accuracy']:.2f}% | {test['macro_f1']:.3f}" if test else "- | -"
            rows.append(f"| {info['file']} ({mode}) | {info['bundle_bytes']:,} | {info['gzip_bytes']:,} | {quality} |")
        detection = f"Detection defaults in every artifact: threshold {self.detection.threshold}" + (
            f", per label {self.detection.thresholds}" if self.detection.thresholds else "") + "."
        path = self.path / "report.md"
        path.write_text("\n".join([f"# {title}", "", *lines, "", *rows, "", detection, ""]))
        return path


def _features_path(path: pathlib.Path, metrics: dict, data) -> pathlib.Path | None:
    if data is not None:
        features = pathlib.Path(data)
    elif (path / "features.npz").is_file():
        features = path / "features.npz"
    elif metrics.get("features"):
        features = pathlib.Path(metrics["features"])
    else:
        return None
    if not features.is_file():
        raise ConfigError(f"{path}: feature arrays {features} do not exist")
    return features.resolve()


def _detection(path: pathlib.Path, metrics: dict) -> DetectionDefaults:
    """From ``metrics.json``, else (a training folder older than that entry) ``recipe.yaml``; checked
    as a recipe's ``detection:`` section is, since every artifact and MCU header copies it."""
    import pydantic

    from quantize.recipe import Detection

    source, section = path / "metrics.json", metrics.get("detection")
    if section is None and (path / "recipe.yaml").is_file():
        source = path / "recipe.yaml"
        try:
            section = (yaml.safe_load(source.read_text()) or {}).get("detection")
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from None
    try:
        return DetectionDefaults(**Detection(**(section or {})).model_dump())
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"detection.{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None

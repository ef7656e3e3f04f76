"""The compression report: one table (markdown + JSON) and one plot.

One row per variant (an artifact file): parameters and MACs of its Keras
model, ``.tflite`` bytes, gzip bytes (zeros and shared values from pruning
and clustering show here, not in the raw size), median latency of one window
on LiteRT + XNNPACK with one thread, and test accuracy and macro F1 of the
artifact itself (so int8 rounding is included).
"""
from __future__ import annotations

import gzip
import json
import pathlib
from dataclasses import asdict, dataclass

import numpy as np

from sdk.bundle import Bundle
from sdk import timing
from sdk.engine import Engine
from sdk.errors import ConfigError


@dataclass
class Row:
    variant: str
    file: str
    mode: str
    params: int
    macs: int
    tflite_bytes: int
    gzip_bytes: int
    latency_ms: float
    accuracy: float
    macro_f1: float
    note: str = ""


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    """Unweighted mean of per-class F1 over classes present in ``y_true`` or ``y_pred``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in range(num_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def evaluate(bundle: Bundle, x, y) -> dict:
    """Accuracy and macro F1 of an artifact on feature windows (XNNPACK, 1 thread)."""
    scores = Engine(bundle, threads=1).predict_batch(x)[0]
    pred = np.argmax(scores, -1)
    return {"accuracy": float(np.mean(pred == np.asarray(y))), "macro_f1": macro_f1(y, pred, scores.shape[-1])}


def latency_ms(bundle: Bundle, window, *, runs: int = 200, warmup: int = 20) -> float:
    """Median wall time of ``predict`` on one window, LiteRT + XNNPACK, 1 thread."""
    engine = Engine(bundle, threads=1)
    timed = timing.latency_ms({"predict": lambda: engine.predict(window)}, runs=runs, rounds=1, warmup=warmup)
    return timed["predict"]["median_ms"]


def measure(variant: str, path, x, y, *, params: int, macs: int, runs: int = 200, note: str = "") -> Row:
    """Load an artifact file and measure everything for its row."""
    path = pathlib.Path(path)
    bundle = Bundle.load(path)
    quality = evaluate(bundle, x, y)
    return Row(
        variant=variant, file=str(path), mode=bundle.provenance.get("export_mode", "?"), params=int(params),
        macs=int(macs), tflite_bytes=len(bundle.model), gzip_bytes=len(gzip.compress(bundle.model, 9)),
        latency_ms=latency_ms(bundle, x[0], runs=runs), note=note, **quality,
    )


def markdown(rows: list[Row]) -> str:
    header = ("| variant | mode | params | MACs | .tflite bytes | gzip bytes | latency ms (XNNPACK, 1 thread) "
              "| accuracy % | macro F1 % | note |")
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r.variant} | {r.mode} | {r.params:,} | {r.macs:,} | {r.tflite_bytes:,} | {r.gzip_bytes:,} "
            f"| {r.latency_ms:.3f} | {100 * r.accuracy:.2f} | {100 * r.macro_f1:.2f} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], path) -> None:
    """Accuracy against gzip bytes and against latency; points are numbered, the legend names them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = {"float32": "o", "int8": "s", "float16": "^", "int16x8": "D"}
    colors = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
    for ax, key, label in ((axes[0], "gzip_bytes", "model size, gzip bytes"),
                           (axes[1], "latency_ms", "latency per window, ms (LiteRT + XNNPACK, 1 thread)")):
        for i, r in enumerate(rows, 1):
            ax.scatter(getattr(r, key), 100 * r.accuracy, s=30, marker=markers.get(r.mode, "x"), color=colors(i % 20),
                       label=f"{i}. {r.variant}" if ax is axes[0] else None)
            ax.annotate(str(i), (getattr(r, key), 100 * r.accuracy), fontsize=7, xytext=(3, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy, %")
        ax.grid(alpha=0.3)
    fig.legend(loc="center right", fontsize=7, frameon=False, title="marker: o float32, s int8, ^ float16, D int16x8",
               title_fontsize=7)
    fig.suptitle("Compression variants: accuracy against size and latency")
    fig.tight_layout(rect=(0, 0, 0.78, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(rows: list[Row], out_dir, *, extra: dict | None = None) -> dict:
    """Write ``compress_report.md``, ``.json`` and ``.png`` into ``out_dir``; return the paths."""
    if not rows:
        raise ConfigError("compress report: no variants to report")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"compress_report.{k}" for k in ("md", "json", "png")}
    paths["md"].write_text(markdown(rows))
    paths["json"].write_text(json.dumps({"variants": [asdict(r) for r in rows], **(extra or {})}, indent=2))
    plot(rows, paths["png"])
    return paths

"""What a training run reports: metrics.json, plots, and a short report.md.

Metrics are computed with numpy (no scikit-learn dependency): accuracy,
per-class precision / recall / F1, macro F1 and the confusion matrix, rows
are the true label and columns the predicted one.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np


def confusion(y_true, y_pred, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def classification_metrics(y_true, scores, labels) -> dict:
    """``prediction_metrics`` of the arg max of ``scores`` (``(n, classes)`` posteriors)."""
    return prediction_metrics(y_true, np.asarray(scores).argmax(axis=1), labels)


def prediction_metrics(y_true, y_pred, labels) -> dict:
    """Accuracy, unweighted average recall, per-class precision / recall / F1, macro F1, confusion matrix.

    A class that is never predicted has precision 0 (and so F1 0) when it
    has examples; UAR and macro F1 average over the classes with examples.
    """
    y_true = np.asarray(y_true, np.int64)
    y_pred = np.asarray(y_pred, np.int64)
    matrix = confusion(y_true, y_pred, len(labels))
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = actual > 0
    return {
        "examples": int(y_true.size),
        "accuracy": float(tp.sum() / max(1, y_true.size)),
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, actual)
        },
        "confusion_matrix": matrix.tolist(),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix, labels, path, *, title: str) -> None:
    plt = _pyplot()
    matrix = np.asarray(matrix)
    size = 1.0 + 0.5 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    rows = matrix.sum(axis=1, keepdims=True)
    image = ax.imshow(np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > 0.5 * max(1, rows[i, 0]) else "black")
    fig.colorbar(image, ax=ax, label="fraction of true label")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_history(history: dict, path) -> None:
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
        if key in history:
            ax.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_size_accuracy(artifacts: dict, path) -> None:
    """Test accuracy against model bytes, one point per exported artifact."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for mode, info in artifacts.items():
        ax.scatter(info["model_bytes"] / 1024, 100 * info["test"]["accuracy"], s=40)
        ax.annotate(mode, (info["model_bytes"] / 1024, 100 * info["test"]["accuracy"]), xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xlabel("model size (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(run_dir, metrics: dict, history: dict, labels) -> None:
    """metrics.json, confusion_*.png, training_curves.png, size_accuracy.png and report.md."""
    run_dir = pathlib.Path(run_dir)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_history(history, run_dir / "training_curves.png")
    plot_confusion(metrics["float"]["test"]["confusion_matrix"], labels, run_dir / "confusion_float.png",
                   title="float model, test split")
    for mode, info in metrics["artifacts"].items():
        plot_confusion(info["test"]["confusion_matrix"], labels, run_dir / f"confusion_{mode}.png",
                       title=f"{mode} artifact, test split")
    if metrics["artifacts"]:
        plot_size_accuracy(metrics["artifacts"], run_dir / "size_accuracy.png")
    (run_dir / "report.md").write_text(markdown(metrics))


def markdown(metrics: dict) -> str:
    m = metrics
    lines = [
        f"# {m['name']}: {m['model']['name']} on {len(m['labels'])} labels",
        "",
        f"{m['model']['params']:,} parameters, {m['model']['macs']:,} MACs per {m['frontend']['clip_s']} s window; "
        f"trained {m['training']['epochs_run']} epochs in {m['training']['train_time_s']:.0f} s "
        f"(best epoch {m['training']['best_epoch']}).",
        "",
        f"Data: {m['data']['train']['clips']} training clips ({m['data']['train']['windows']} windows with "
        f"augmentation), {m['data']['val']['clips']} validation, {m['data']['test']['clips']} test "
        "(speaker-disjoint).",
        "",
        "| model | bytes | test accuracy | macro F1 |",
        "|---|---:|---:|---:|",
        f"| Keras float | - | {100 * m['float']['test']['accuracy']:.2f}% | {m['float']['test']['macro_f1']:.3f} |",
    ]
    for mode, info in m["artifacts"].items():
        lines.append(
            f"| {info['file']} ({mode}) | {info['model_bytes']:,} | {100 * info['test']['accuracy']:.2f}% | "
            f"{info['test']['macro_f1']:.3f} |"
        )
    if m.get("int8_accuracy_drop_points") is not None:
        lines += ["", f"int8 accuracy drop vs Keras float: {m['int8_accuracy_drop_points']:+.2f} points."]
    stream = m["artifacts"].get("streaming_int8", {})
    if stream.get("agreement_with_int8"):
        a = stream["agreement_with_int8"]
        lines += ["", f"{stream['file']} steps {stream['frames_per_step']} frames at a time with carried state; "
                  f"its top label equals model_int8's on {100 * a['top1_agreement']:.1f}% of {a['windows']} test "
                  f"windows (largest score difference {a['max_score_difference']:.3f})."]
    if m.get("teacher"):
        lines += _teacher_lines(m)
    lines += ["", "## Per class (first artifact, test split)", "", "| label | precision | recall | F1 | support |",
              "|---|---:|---:|---:|---:|"]
    first = next(iter(m["artifacts"].values()))["test"] if m["artifacts"] else m["float"]["test"]
    for label, c in first["per_class"].items():
        lines.append(f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {c['support']} |")
    lines += ["", "Plots: training_curves.png, confusion_*.png, size_accuracy.png. Recipe as run: recipe.yaml.", ""]
    return "\n".join(lines)


def _teacher_lines(m: dict) -> list[str]:
    """Teacher, student from scratch and distilled student, side by side."""
    t, scratch = m["teacher"], m.get("scratch")
    int8 = m["artifacts"].get("int8")
    lines = ["", "## Distillation from the speech-embedding teacher", "",
             "| model | bytes | MACs per window | test accuracy |", "|---|---:|---:|---:|",
             f"| teacher: speech embedding + head ({t['head_params']:,} head params) | {t['bytes']:,} | - | "
             f"{100 * t['test']['accuracy']:.2f}% |"]
    if scratch:
        lines.append(f"| student from scratch, int8 | {scratch['int8_bytes']:,} | {m['model']['macs']:,} | "
                     f"{100 * scratch['int8_test']['accuracy']:.2f}% |")
    if int8:
        lines.append(f"| distilled student, int8 | {int8['model_bytes']:,} | {m['model']['macs']:,} | "
                     f"{100 * int8['test']['accuracy']:.2f}% |")
    if scratch and int8:
        gain = 100 * (int8["test"]["accuracy"] - scratch["int8_test"]["accuracy"])
        lines += ["", f"Distillation gain (int8, same student, same data): {gain:+.2f} points."]
    lines += ["", f"Temperature {t['temperature']}, alpha {t['alpha']}, {t['unlabelled_windows']} unlabelled "
              f"windows; the embedding took {t['embedding_cpu_s']} CPU-s."]
    hint = t.get("hint")
    if hint:
        lines.append(f"The student's trunk first learnt the embedding ({hint['epochs']} epochs on {hint['windows']} "
                     f"windows): it leaves {100 * hint['val_unexplained']:.0f}% of the validation embeddings' "
                     "variance unexplained.")
    return lines

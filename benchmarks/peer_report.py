"""The peer benchmark's task and its scoring: micro_speech's four classes, metrics, goal, table."""
from __future__ import annotations

import numpy as np

FOUR = ("yes", "no", "_unknown_", "_silence_")
SILENCE_NAMES = {"_silence_", "silence", "_background_noise_", "background", "_background_"}
GOAL = {"balanced_accuracy_min": 0.95, "model_bytes_max": 20_000, "latency_ratio_max": 1.5}


def to_four(label: str) -> str:
    """micro_speech's class for any model's or dataset's label."""
    if label in ("yes", "no"):
        return label
    if label in SILENCE_NAMES:
        return "_silence_"
    return "_unknown_"


def score(truth: list[str], predicted: list[str]) -> dict:
    """Accuracy, balanced accuracy (mean recall over the classes present), recall and confusion."""
    truth_a, pred_a = np.asarray(truth), np.asarray(predicted)
    recall = {}
    for k in FOUR:
        n = int(np.sum(truth_a == k))
        recall[k] = float(np.mean(pred_a[truth_a == k] == k)) if n else None
    present = [r for r in recall.values() if r is not None]
    confusion = {t: {p: int(np.sum((truth_a == t) & (pred_a == p))) for p in FOUR} for t in FOUR}
    return {
        "clips": int(truth_a.size),
        "accuracy": float(np.mean(truth_a == pred_a)) if truth_a.size else None,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "recall": recall,
        "confusion": confusion,  # confusion[true][predicted]
    }


def fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def table(report: dict) -> str:
    width = max([18, *(len(name) for name in report["models"])])
    head = (f"{'model':<{width}} {'set':<8} {'clips':>5} {'acc':>6} {'bal.acc':>7} "
            f"{'yes':>6} {'no':>6} {'unk':>6} {'sil':>6} {'bytes':>7} {'params':>7} "
            f"{'lat.med':>8} {'lat.p99':>8} {'predict':>8} {'fe ms/s':>8}")
    lines = [head, "-" * len(head)]
    for name, m in report["models"].items():
        lat = m.get("latency", {}).get("litert_xnnpack_1thread", {})
        pred = m.get("latency", {}).get("engine_predict_1thread", {})
        fe = (m.get("frontend") or {}).get("streaming_ms_per_audio_s")
        sets = m.get("scores") or {"-": None}
        for set_name, s in sets.items():
            r = (s or {}).get("recall", {})
            lines.append(
                f"{name:<{width}} {set_name:<8} {fmt((s or {}).get('clips'), 'd'):>5} "
                f"{fmt((s or {}).get('accuracy')):>6} {fmt((s or {}).get('balanced_accuracy')):>7} "
                f"{fmt(r.get('yes')):>6} {fmt(r.get('no')):>6} {fmt(r.get('_unknown_')):>6} "
                f"{fmt(r.get('_silence_')):>6} {m['size']['model_bytes']:>7} {m['size']['parameters']:>7} "
                f"{fmt(lat.get('median_ms')):>8} {fmt(lat.get('p99_ms')):>8} {fmt(pred.get('median_ms')):>8} "
                f"{fmt(fe, '.2f'):>8}"
            )
    lines.append("lat: ms per Interpreter.invoke, LiteRT + XNNPACK, 1 thread (median, p99); predict: median ms "
                 "of sdk Engine.predict (adds input quantization and Python); fe: front-end ms per second of "
                 "audio, streaming; bytes: .tflite without Auricle metadata")
    lines.append("full: every clip, including the speakers Auricle's models trained on; heldout: the speakers "
                 "none of the models trained on (micro_speech trained on none of these clips)")
    return "\n".join(lines)


def goal_check(report: dict, name: str, set_name: str) -> dict:
    """Auricle's 4-class goal against micro_speech, on ``set_name``."""
    model, peer = report["models"][name], report["models"].get("micro_speech")
    bal = (model.get("scores") or {}).get(set_name, {}).get("balanced_accuracy")
    lat = model["latency"]["litert_xnnpack_1thread"]["median_ms"]
    peer_lat = peer["latency"]["litert_xnnpack_1thread"]["median_ms"] if peer else None
    ratio = lat / peer_lat if peer_lat else None
    pred, peer_pred = (m["latency"]["engine_predict_1thread"]["median_ms"] for m in (model, peer or model))
    checks = {
        "balanced_accuracy": bal,
        "balanced_accuracy_ok": bal is not None and bal >= GOAL["balanced_accuracy_min"],
        "model_bytes": model["size"]["model_bytes"],
        "model_bytes_ok": model["size"]["model_bytes"] <= GOAL["model_bytes_max"],
        "input_int8": model.get("input_dtype") == "int8",
        "latency_ratio_to_micro_speech": ratio,
        "latency_ok": ratio is not None and ratio <= GOAL["latency_ratio_max"],
        "engine_predict_ratio_to_micro_speech": pred / peer_pred if peer else None,
    }
    checks["met"] = all(checks[k] for k in ("balanced_accuracy_ok", "model_bytes_ok", "input_int8", "latency_ok"))
    return {"model": name, "set": set_name, **GOAL, **checks}

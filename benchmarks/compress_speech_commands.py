"""Compression results on 12-class Speech Commands (speaker-disjoint split).

Steps (each skipped when its folder already exists, so the script resumes):

1. features: ``benchmarks/sc_features.py`` -> ``.cache/compress/sc12_features.npz``
2. teacher and students-alone: ``benchmarks/sc_train.py`` -> ``runs/sc/teacher``, ``runs/sc/student_s<seed>``
3. distilled students: ``quantize.compress.stages.apply(teacher, [distill])`` -> ``runs/sc/distill_s<seed>``
4. compression of the distilled student (seed 0): magnitude pruning 50/75/90 %,
   structured pruning, clustering, QAT, post-training modes
5. the report: ``runs/sc/report/compress_report.{md,json,png}``, and the figures with
   their command, environment and seeds in ``benchmarks/results/compress_speech_commands.json``
   (``--results``; benchmarks.results_io)

Run: ``PYTHONPATH=. nice -n 10 python benchmarks/compress_speech_commands.py`` (hours on 2 cores)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

import quantize  # noqa: F401
from quantize.compress import stages as compress
from quantize.compress import report as compress_report

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from benchmarks import results_io  # noqa: E402

ROOT = pathlib.Path("runs/sc")
FEATURES = pathlib.Path(".cache/compress/sc12_features.npz")
TEACHER = {"model": "ds_cnn_s", "params": {}}
STUDENT = {"name": "ds_cnn_s", "params": {"filters": 24, "blocks": 3}}


def sh(*args):
    print("+", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], check=True)


def train(run: pathlib.Path, model: str, params: dict, epochs: int, seed: int):
    if not (run / "metrics.json").exists():
        sh("benchmarks/sc_train.py", str(run), "--model", model, "--params", json.dumps(params),
           "--epochs", str(epochs), "--seed", str(seed), "--features", str(FEATURES))


def stage(source: pathlib.Path, out: pathlib.Path, stages: list) -> pathlib.Path:
    """Apply stages into ``out`` (a folder of stage folders) unless done; return the last stage folder."""
    if not out.exists():
        compress.apply(source, stages, out_dir=out, verbose=2)
    return sorted(p for p in out.iterdir() if p.is_dir())[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--report-only", action="store_true",
                        help="only measure what exists (seeds with both a student and a distilled run)")
    parser.add_argument("--results", default="benchmarks/results/compress_speech_commands.json")
    args = parser.parse_args()
    started = time.perf_counter()
    if not FEATURES.exists():
        sh("benchmarks/sc_features.py", "--train-copies", "3", "--out", str(FEATURES))
    teacher = ROOT / "teacher"
    train(teacher, TEACHER["model"], TEACHER["params"], args.epochs, 0)
    seeds = list(range(args.seeds))
    distilled = {}

    def pair(seed):
        train(ROOT / f"student_s{seed}", STUDENT["name"], STUDENT["params"], args.epochs, seed)
        distilled[seed] = stage(teacher, ROOT / f"distill_s{seed}", [
            {"distill": {"student": STUDENT, "temperature": args.temperature, "alpha": args.alpha,
                         "epochs": args.epochs, "seed": seed}}])

    if args.report_only:
        distilled = {s: ROOT / f"distill_s{s}" / "01_distill" for s in seeds
                     if (ROOT / f"distill_s{s}" / "01_distill" / "metrics.json").is_file()
                     and (ROOT / f"student_s{s}" / "metrics.json").is_file()}
    else:
        pair(0)  # compression starts from the seed-0 distilled student; other seeds only measure the gain
    base = distilled[0]
    ft = args.finetune_epochs
    variants = {
        "pruned 50%": stage(base, ROOT / "prune50", [{"prune": {"sparsity": 0.5, "epochs": ft}}]),
        "pruned 75%": stage(base, ROOT / "prune75", [{"prune": {"sparsity": 0.75, "epochs": ft}}]),
        "pruned 90%": stage(base, ROOT / "prune90", [{"prune": {"sparsity": 0.9, "epochs": ft}}]),
        "structured 50% channels": stage(base, ROOT / "channels50",
                                         [{"prune_channels": {"fraction": 0.5, "epochs": ft, "learning_rate": 1e-3}}]),
        "structured 33% channels": stage(base, ROOT / "channels33",
                                         [{"prune_channels": {"fraction": 0.33, "epochs": ft, "learning_rate": 1e-3}}]),
        "clustered 16": stage(base, ROOT / "cluster16", [{"cluster": {"clusters": 16, "epochs": 3}}]),
        "int8 QAT": stage(base, ROOT / "qat", [{"qat": {"epochs": 3}}]),
        "int8 QAT lr 5e-5": stage(base, ROOT / "qat_lr5e-5", [{"qat": {"epochs": 3, "learning_rate": 5e-5}}]),
        "PTQ modes": stage(base, ROOT / "ptq", [{"ptq": {}}]),
        "teacher PTQ": stage(teacher, ROOT / "teacher_ptq", [{"ptq": {"modes": ["float32", "int8"]}}]),
        # the same compressions on the 6x larger teacher, where there are spare weights to remove
        "teacher pruned 75%": stage(teacher, ROOT / "teacher_prune75", [{"prune": {"sparsity": 0.75, "epochs": ft}}]),
        "teacher structured 50% channels": stage(teacher, ROOT / "teacher_channels50", [
            {"prune_channels": {"fraction": 0.5, "epochs": ft, "learning_rate": 1e-3}}]),
        "teacher int8 QAT": stage(teacher, ROOT / "teacher_qat", [{"qat": {"epochs": 3}}]),
        # control: the same 20-epoch fine-tuning with sparsity 0 (is the gain pruning or just more training?)
        "teacher dense, 20 more epochs": stage(teacher, ROOT / "teacher_finetune20_dense", [
            {"prune": {"sparsity": 0.0, "epochs": 20, "learning_rate": 1e-3}}]),
        "teacher structured 25% channels": stage(teacher, ROOT / "teacher_channels25", [
            {"prune_channels": {"fraction": 0.25, "epochs": 15, "learning_rate": 1e-3}}]),
        "teacher pruned 75%, 20 epochs": stage(teacher, ROOT / "teacher_prune75_long", [
            {"prune": {"sparsity": 0.75, "epochs": 20, "learning_rate": 1e-3}}]),
        "student alone PTQ": stage(ROOT / "student_s0", ROOT / "student_ptq", [{"ptq": {"modes": ["float32", "int8"]}}]),
    }

    for seed in seeds[1:]:
        if not args.report_only:
            pair(seed)
    seeds = sorted(distilled)
    z = np.load(FEATURES)
    x_test, y_test = z["x_test"], z["y_test"]

    def row(name, folder, mode, note=""):
        metrics = json.loads((folder / "metrics.json").read_text())
        return compress_report.measure(name, folder / f"model_{mode}.tflite", x_test, y_test,
                                       params=metrics["model"]["params"], macs=metrics["model"]["macs"], note=note)

    rows = [
        row("teacher (ds_cnn_s 64)", variants["teacher PTQ"], "float32"),
        row("teacher int8 PTQ", variants["teacher PTQ"], "int8"),
        row("student alone", variants["student alone PTQ"], "float32", "seed 0"),
        row("student distilled", variants["PTQ modes"], "float32",
            f"seed 0, T={args.temperature:g}, alpha={args.alpha:g}"),
        row("student distilled float16", variants["PTQ modes"], "float16"),
        row("student distilled int8 PTQ", variants["PTQ modes"], "int8", "per-channel"),
        row("student distilled int16x8", variants["PTQ modes"], "int16x8"),
        row("int8 QAT", variants["int8 QAT"], "int8", "3 epochs, lr 2e-4"),
        row("int8 QAT lr 5e-5", variants["int8 QAT lr 5e-5"], "int8", "3 epochs, lr 5e-5"),
    ]
    for name in ("pruned 50%", "pruned 75%", "pruned 90%", "structured 33% channels", "structured 50% channels",
                 "clustered 16", "teacher dense, 20 more epochs", "teacher pruned 75%", "teacher pruned 75%, 20 epochs",
                 "teacher structured 25% channels", "teacher structured 50% channels"):
        rows.append(row(name, variants[name], "float32"))
        rows.append(row(name + " int8", variants[name], "int8", "PTQ"))
    rows.append(row("teacher int8 QAT", variants["teacher int8 QAT"], "int8", "3 epochs"))

    def test_acc(folder, mode="float32"):
        return json.loads((folder / "metrics.json").read_text())["artifacts"][mode]["test"]["accuracy"]

    alone = [json.loads((ROOT / f"student_s{s}" / "metrics.json").read_text())["accuracy"] for s in seeds]
    dist = [test_acc(distilled[s]) for s in seeds]
    by_name = {r.variant: r for r in rows}
    base_acc = by_name["student distilled"].accuracy
    summary = {
        "test_windows": int(len(y_test)),
        "distillation": {"student_alone_accuracy": alone, "student_distilled_accuracy": dist,
                         "mean_gain_points": 100 * (np.mean(dist) - np.mean(alone)),
                         "gain_points_per_seed": [100 * (d - a) for d, a in zip(dist, alone)]},
        "prune75_cost_points": 100 * (base_acc - by_name["pruned 75%"].accuracy),
        "structured": {name: {"mac_cut": 1 - by_name[name].macs / by_name["student distilled"].macs,
                              "cost_points": 100 * (base_acc - by_name[name].accuracy)}
                       for name in ("structured 33% channels", "structured 50% channels")},
        "latency_speedup_structured_50": by_name["student distilled"].latency_ms
        / by_name["structured 50% channels"].latency_ms,
        "qat_int8_vs_float_points": 100 * (base_acc - by_name["int8 QAT"].accuracy),
        "qat_lr5e-5_int8_vs_float_points": 100 * (base_acc - by_name["int8 QAT lr 5e-5"].accuracy),
        "teacher": {
            "prune75_cost_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy - by_name["teacher pruned 75%"].accuracy),
            "prune75_20epochs_cost_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy
                                                   - by_name["teacher pruned 75%, 20 epochs"].accuracy),
            "prune75_20epochs_vs_dense_20epochs_points": 100 * (by_name["teacher dense, 20 more epochs"].accuracy
                                                                - by_name["teacher pruned 75%, 20 epochs"].accuracy),
            "structured25_mac_cut": 1 - by_name["teacher structured 25% channels"].macs / by_name["teacher (ds_cnn_s 64)"].macs,
            "structured25_cost_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy
                                               - by_name["teacher structured 25% channels"].accuracy),
            "structured50_mac_cut": 1 - by_name["teacher structured 50% channels"].macs / by_name["teacher (ds_cnn_s 64)"].macs,
            "structured50_cost_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy
                                               - by_name["teacher structured 50% channels"].accuracy),
            "structured50_latency_speedup": by_name["teacher (ds_cnn_s 64)"].latency_ms
            / by_name["teacher structured 50% channels"].latency_ms,
            "qat_int8_vs_float_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy
                                               - by_name["teacher int8 QAT"].accuracy),
            "ptq_int8_vs_float_points": 100 * (by_name["teacher (ds_cnn_s 64)"].accuracy
                                               - by_name["teacher int8 PTQ"].accuracy),
        },
        "ptq_int8_vs_float_points": 100 * (base_acc - by_name["student distilled int8 PTQ"].accuracy),
    }
    wav = sorted(pathlib.Path("/work/shared/data/speech_commands_v2_test/yes").glob("*.wav"))[0]
    cli = {}
    for r in rows:  # every variant is an artifact the runtime CLI runs
        done = subprocess.run([sys.executable, "-m", "sdk.cli", "classify", r.file, str(wav)], capture_output=True, text=True)
        cli[r.variant] = {"returncode": done.returncode, "output": (done.stdout or done.stderr).strip()[-200:]}
    summary["classify_cli"] = {"wav": str(wav), "all_ok": all(v["returncode"] == 0 for v in cli.values()), "runs": cli}
    paths = compress_report.write(rows, ROOT / "report", extra={"summary": summary})
    results_io.write(args.results, json.loads(paths["json"].read_text()), seeds=seeds,
                     elapsed_s=time.perf_counter() - started)
    print(compress_report.markdown(rows))
    print(json.dumps(summary, indent=2))
    print(paths)


if __name__ == "__main__":
    main()

"""Side by side with published keyword spotters: same clips, same machine.

    python benchmarks/peers.py --out peers.json \\
        [--model NAME=PATH ...] [--heldout-recipe RECIPE] [--peers-dir DIR] [--data DIR]

The task is micro_speech's: four classes, ``yes``, ``no``, ``_silence_`` and
``_unknown_`` (every other word), on Speech Commands v0.02's official test
clips (``../shared/data/speech_commands_v2_test``). Each model's own labels
are mapped to those four: ``yes``/``no`` stay, silence/background noise is
``_silence_``, every other keyword and ``_unknown_`` is ``_unknown_``; a clip's
prediction is the arg-max label, then mapped.

Models:

- ``micro_speech`` (TFLite Micro, Apache-2.0): its own front end and classifier
  under the TFLM interpreter (benchmarks/micro_speech.py); latency also on LiteRT.
- ``mltk_ds_cnn`` (Silicon Labs MLTK): size and latency only; its feature
  scaling is unpublished, so it is not scored.
- Auricle artifacts given with ``--model NAME=PATH`` (``sdk.Bundle``): features
  by ``sdk.frontend``, scores by ``sdk.engine.Engine`` (LiteRT + XNNPACK).

Sets: ``full`` is every clip; ``heldout`` (with ``--heldout-recipe``) is the
clips of the speakers that recipe's speaker split puts in ``test``: the
speakers Auricle's models never trained on. micro_speech was trained on the
official training split, which shares no speaker with this test set, so both
sets are unseen speakers for it.

Per-inference latency: median and p99 milliseconds of LiteRT's
``Interpreter.invoke`` (made as ``sdk.engine.Engine`` makes it: XNNPACK, one
thread) on a set input, i.e. the model's own cost; also of ``Engine.predict``
(adds float->int8 and Python overhead) and, for the peers, of TFLM ``invoke``.
Models are timed in interleaved rounds, so load from other processes falls on
all alike. Front-end cost: milliseconds to turn one second of audio into
features, streaming frame by frame as a device would, also interleaved.
The goal check (Auricle 4-class models) compares against micro_speech on the
held-out set: balanced accuracy, bytes without Auricle's metadata, int8 input,
and the ratio of invoke medians. Writes JSON and prints a table.
"""
from __future__ import annotations

import argparse
import csv
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks import micro_speech as msp  # noqa: E402
from benchmarks import results_io  # noqa: E402
from benchmarks.peer_report import FOUR, fmt, goal_check, score, table, to_four  # noqa: E402
from benchmarks.model_stats import digest, litert_invoke, size_report  # noqa: E402
from sdk.timing import latency_ms  # noqa: E402
from sdk.audio import fit_length, load_audio, resample, to_mono  # noqa: E402
from sdk.bundle import Bundle  # noqa: E402
from sdk.engine import Engine  # noqa: E402
from sdk.errors import AuricleError, ConfigError  # noqa: E402
from sdk.frontend import FrontEnd, features  # noqa: E402

MLTK_FILE = "mltk_keyword_spotting.tflite"
# ../shared/data ($AURICLE_DATA) and its sibling ../shared/peers ($AURICLE_PEERS), as tests/conftest.py finds them
DATA_ROOT = pathlib.Path(os.environ.get("AURICLE_DATA", REPO.parent / "shared" / "data"))
DEFAULT_DATA = DATA_ROOT / "speech_commands_v2_test"
DEFAULT_PEERS = pathlib.Path(os.environ.get("AURICLE_PEERS", DATA_ROOT.parent / "peers"))


# ------------------------------------------------------------------- data


def load_clips(root: pathlib.Path) -> list[dict]:
    """Clips of a Speech Commands test folder with ``labels.csv`` (path,label,spoken_word,speaker_hash)."""
    manifest = root / "labels.csv"
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: no such file; expected Speech Commands test clips with labels.csv")
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{manifest}: missing column(s) {sorted(missing)}; has {reader.fieldnames}")
        rows = list(reader)
    clips = [
        {
            "path": str(root / row["path"]),
            "label": row["label"],
            "four": to_four(row["label"]),
            "speaker": (row.get("speaker_hash") or "").strip(),
        }
        for row in rows
    ]
    absent = [c["path"] for c in clips if not os.path.isfile(c["path"])]
    if absent:
        raise ConfigError(f"{manifest}: {len(absent)} listed file(s) do not exist, e.g. {absent[:3]}")
    return clips


def describe_set(clips: list[dict]) -> dict:
    return {
        "clips": len(clips),
        "speakers": len({c["speaker"] for c in clips if c["speaker"]}),
        "per_class": {k: sum(c["four"] == k for c in clips) for k in FOUR},
    }


def heldout_clips(clips: list[dict], recipe: str) -> list[dict]:
    """The clips whose speakers ``recipe``'s own speaker split puts in ``test``."""
    from benchmarks.heldout import heldout_paths

    keep = heldout_paths(recipe)
    return [c for c in clips if os.path.normpath(c["path"]) in keep]


def training_overlap(bundle: Bundle, heldout: list[dict]) -> dict:
    """How many held-out clips the artifact's own recipe (from its provenance) trained or validated on."""
    recipe = (bundle.provenance or {}).get("recipe")
    if not recipe:
        return {"checked": False, "why": "artifact carries no recipe in its provenance"}
    from benchmarks.heldout import split_paths

    try:
        parts = split_paths(recipe)
    except AuricleError as exc:
        return {"checked": False, "why": str(exc)}
    held = {os.path.normpath(c["path"]) for c in heldout}
    return {"checked": True, "heldout_clips_in_train": len(held & parts["train"]),
            "heldout_clips_in_val": len(held & parts["val"])}


# ----------------------------------------------------------------- models


def micro_speech_predictions(model: msp.MicroSpeech, clips: list[dict]) -> dict[str, str]:
    out = {}
    for clip in clips:
        scores = model.scores(msp.read_int16(clip["path"]))
        out[clip["path"]] = to_four(model.labels[int(np.argmax(scores))])
    return out


def bundle_windows(bundle: Bundle, clips: list[dict]) -> np.ndarray:
    fe = bundle.frontend
    return np.stack(
        [features(fit_length(load_audio(c["path"], fe.sample_rate), fe.clip_samples), config=fe) for c in clips]
    )


def bundle_predictions(bundle: Bundle, clips: list[dict], *, batch: int = 64) -> dict[str, str]:
    engine = Engine(bundle, threads=1)
    labels = [to_four(label) for label in bundle.labels]
    out = {}
    for start in range(0, len(clips), batch):
        part = clips[start : start + batch]
        scores = engine.predict_batch(bundle_windows(bundle, part))[0]
        for clip, row in zip(part, scores):
            out[clip["path"]] = labels[int(np.argmax(row))]
    return out


def demo_audio(clips: list[dict], seconds: int) -> np.ndarray:
    """``seconds`` s of real clips end to end (int16), the same audio for every front end."""
    picked = sorted(clips, key=lambda c: c["path"])[:: max(1, len(clips) // seconds)][:seconds]
    return np.concatenate([msp.read_int16(c["path"]) for c in picked])


def micro_speech_frontend(model: msp.MicroSpeech, audio: np.ndarray) -> tuple[dict, dict]:
    """(description, {timing key: (run, audio_s)}) for micro_speech's front end, streamed frame by frame."""
    frames = 1 + (audio.size - msp.FRAME_SAMPLES) // msp.HOP_SAMPLES
    audio_s = audio.size / msp.SAMPLE_RATE

    def stream():
        model.frontend.reset()
        for i in range(frames):
            model.frame_features(audio[i * msp.HOP_SAMPLES : i * msp.HOP_SAMPLES + msp.FRAME_SAMPLES])

    about = {
        "implementation": "TFLM Signal ops (audio_preprocessor_int8.tflite), tflite-micro Python interpreter, "
        "one invoke per 20 ms frame",
        "frames_per_audio_s": msp.SAMPLE_RATE / msp.HOP_SAMPLES,
    }
    return about, {"streaming_ms_per_audio_s": (stream, audio_s)}


def auricle_frontend(bundle: Bundle, audio_int16: np.ndarray) -> tuple[dict, dict]:
    """(description, {timing key: (run, audio_s)}) for sdk.frontend with the artifact's config."""
    fe = bundle.frontend
    audio = load_audio_array(audio_int16, fe.sample_rate)
    audio_s = audio.size / fe.sample_rate

    def stream():
        frontend = FrontEnd(fe)
        for i in range(0, audio.size, fe.hop_samples):
            frontend.push(audio[i : i + fe.hop_samples])

    about = {"implementation": "sdk.frontend.FrontEnd (numpy), one push per hop",
             "frames_per_audio_s": fe.sample_rate / fe.hop_samples}
    return about, {"streaming_ms_per_audio_s": (stream, audio_s),
                   "whole_clip_ms_per_audio_s": (lambda: features(audio, config=fe), audio_s)}


def interleaved_frontend_ms(timings: dict[str, dict], repeats: int) -> dict[str, dict]:
    """Median ms per second of audio of every front-end run, in rounds that visit each in turn."""
    seconds = {(name, key): [] for name, runs in timings.items() for key in runs}
    for _ in range(repeats):
        for name, runs in timings.items():
            for key, (run, _) in runs.items():
                start = time.perf_counter()
                run()
                seconds[(name, key)].append(time.perf_counter() - start)
    out: dict[str, dict] = {name: {} for name in timings}
    for (name, key), values in seconds.items():
        out[name][key] = 1000 * statistics.median(values) / timings[name][key][1]
    return out


def load_audio_array(audio_int16: np.ndarray, sample_rate: int) -> np.ndarray:
    return resample(to_mono(audio_int16), msp.SAMPLE_RATE, sample_rate)


# -------------------------------------------------------------------- main


def parse_models(values: list[str]) -> dict[str, str]:
    models = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--model {value!r}: expected NAME=PATH, e.g. auricle_4class=runs/x/model_int8.tflite")
        if name in models or name in ("micro_speech", "mltk_ds_cnn"):
            raise ConfigError(f"--model {value!r}: name {name!r} is already taken")
        models[name] = path
    return models


def machine() -> dict:
    """Where the figures come from, with the load at the start (timings on a shared machine vary)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "cores_used": 1, "python": platform.python_version(),
            "numpy": np.__version__, "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


class Timers:
    """What each entered model contributes to the interleaved timing rounds."""

    def __init__(self):
        self.invoke = {}  # LiteRT Interpreter.invoke on a set input
        self.predict = {}  # sdk Engine.predict on a float window
        self.tflm = {}  # TFLM interpreter (peers)
        self.frontend = {}  # name -> {key: (run, audio_s)}


def _scores(sets: dict, truth: dict, predictions: dict) -> dict:
    return {k: score([truth[c["path"]] for c in v], [predictions[c["path"]] for c in v]) for k, v in sets.items()}


def enter_micro_speech(peers: pathlib.Path, sets: dict, truth: dict, audio: np.ndarray, timers: Timers) -> dict:
    model = msp.MicroSpeech(peers)
    clips = sets["full"]
    print("micro_speech: scoring", len(clips), "clips under TFLM ...", flush=True)
    predictions = micro_speech_predictions(model, clips)
    data = model.classifier_path.read_bytes()
    about, timers.frontend["micro_speech"] = micro_speech_frontend(model, audio)
    window = model.features(msp.read_int16(clips[0]["path"]))
    q = model.classifier.get_input_details(0)["quantization_parameters"]
    float_window = (window.astype(np.float32) - q["zero_points"][0]) * q["scales"][0]  # Engine re-quantizes it
    engine = Engine(data, threads=1)
    timers.predict["micro_speech"] = lambda: engine.predict(float_window)
    timers.invoke["micro_speech"] = litert_invoke(data, float_window)
    timers.tflm["micro_speech"] = lambda: model.classify(window)
    return {
        "kind": "peer", "source": str(model.classifier_path), "sha256": digest(data),
        "frontend_source": str(model.frontend_path), "frontend_sha256": digest(model.frontend_path.read_bytes()),
        "labels": list(model.labels), "input_dtype": "int8", "size": size_report(data), "frontend": about,
        "scores": _scores(sets, truth, predictions),
    }


def enter_mltk(path: pathlib.Path, timers: Timers) -> dict:
    data = path.read_bytes()
    engine = Engine(data, threads=1)
    x = np.random.default_rng(0).normal(0, 1, engine.input_shape[1:]).astype(np.float32)
    timers.predict["mltk_ds_cnn"] = lambda: engine.predict(x)
    timers.invoke["mltk_ds_cnn"] = litert_invoke(data, x)
    try:
        interpreter = msp.tflm_interpreter(path)
    except AuricleError:
        interpreter = None  # no tflite-micro: LiteRT timing only
    if interpreter is not None:
        def tflm():
            interpreter.set_input(x[None], 0)
            interpreter.invoke()

        timers.tflm["mltk_ds_cnn"] = tflm
    return {
        "kind": "peer", "source": str(path), "sha256": digest(data), "input_dtype": str(engine.input_dtype),
        "note": "float input with int8 inside (QUANTIZE/DEQUANTIZE); 12 classes; its feature scaling is "
                "unpublished, so size and latency only",
        "size": size_report(data), "frontend": None, "scores": None,
    }


def enter_auricle(name: str, path: str, sets: dict, truth: dict, audio: np.ndarray, timers: Timers) -> dict:
    bundle = Bundle.load(path)
    print(f"{name}: scoring {len(sets['full'])} clips ...", flush=True)
    predictions = bundle_predictions(bundle, sets["full"])
    about, timers.frontend[name] = auricle_frontend(bundle, audio)
    window = bundle_windows(bundle, sets["full"][:1])[0]
    engine = Engine(bundle, threads=1)
    timers.predict[name] = lambda: engine.predict(window)
    timers.invoke[name] = litert_invoke(bundle.model, window)
    return {
        "kind": "auricle", "source": str(path), "sha256": digest(bundle.model), "labels": list(bundle.labels),
        "label_map": {label: to_four(label) for label in bundle.labels},
        "input_dtype": bundle.inputs[0].dtype, "frontend_config": bundle.frontend.to_dict(),
        "provenance": bundle.provenance, "size": size_report(bundle.model, source=path),
        "heldout_overlap": training_overlap(bundle, sets["heldout"]) if "heldout" in sets else None,
        "frontend": about, "scores": _scores(sets, truth, predictions),
    }


def run(args) -> dict:
    clips = load_clips(pathlib.Path(args.data))
    if args.limit:
        clips = clips[:: max(1, len(clips) // args.limit)][: args.limit]
    sets = {"full": clips}
    if args.heldout_recipe:
        sets["heldout"] = heldout_clips(clips, args.heldout_recipe)
        if not sets["heldout"]:
            raise ConfigError(f"{args.heldout_recipe}: its test split holds none of the clips in {args.data}")
    truth = {c["path"]: c["four"] for c in clips}
    audio = demo_audio(clips, args.frontend_seconds)
    report = {
        "benchmark": "peers",
        "command": "python " + " ".join(sys.argv),
        "machine": machine(),
        "task": {"classes": list(FOUR), "data": str(args.data), "heldout_recipe": args.heldout_recipe,
                 "sets": {k: describe_set(v) for k, v in sets.items()}},
        "models": {},
        "skipped": {},
    }
    timers = Timers()
    peers = pathlib.Path(args.peers_dir)
    if (peers / msp.CLASSIFIER_FILE).is_file() and (peers / msp.FRONTEND_FILE).is_file():
        try:
            report["models"]["micro_speech"] = enter_micro_speech(peers, sets, truth, audio, timers)
        except AuricleError as exc:  # e.g. tflite-micro not installed
            report["skipped"]["micro_speech"] = str(exc)
    else:
        report["skipped"]["micro_speech"] = f"{peers}: no {msp.CLASSIFIER_FILE} and {msp.FRONTEND_FILE}"
    if (peers / MLTK_FILE).is_file():
        report["models"]["mltk_ds_cnn"] = enter_mltk(peers / MLTK_FILE, timers)
    else:
        report["skipped"]["mltk_ds_cnn"] = f"{peers / MLTK_FILE}: no such file"
    for name, path in parse_models(args.model).items():
        report["models"][name] = enter_auricle(name, path, sets, truth, audio, timers)

    print("timing", ", ".join(report["models"]), "...", flush=True)
    invoke = latency_ms(timers.invoke, runs=args.runs)
    predict = latency_ms(timers.predict, runs=args.runs)
    tflm = latency_ms(timers.tflm, runs=max(50, args.runs // 5)) if timers.tflm else {}
    for name, costs in interleaved_frontend_ms(timers.frontend, args.repeats).items():
        report["models"][name]["frontend"].update(costs)
    for name, entry in report["models"].items():
        entry["latency"] = {
            "litert_xnnpack_1thread": invoke[name],  # Interpreter.invoke on a set input: the model's own cost
            "engine_predict_1thread": predict[name],  # sdk Engine.predict: + float->int8 and Python overhead
        }
        if name in tflm:
            entry["latency"]["tflm_python_interpreter"] = tflm[name]
    goal_set = "heldout" if "heldout" in sets else "full"
    report["goal"] = [goal_check(report, name, goal_set) for name, m in report["models"].items()
                      if m["kind"] == "auricle" and sorted(m["labels"]) == sorted(FOUR)]
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="peers.json")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="an Auricle artifact to enter (repeatable)")
    parser.add_argument("--heldout-recipe", default=None, metavar="RECIPE",
                        help="also score the clips this recipe's speaker split calls test (speakers Auricle's "
                             "models did not train on)")
    parser.add_argument("--peers-dir", default=str(DEFAULT_PEERS))
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--runs", type=int, default=1000, help="timed inferences per model (LiteRT)")
    parser.add_argument("--repeats", type=int, default=5, help="front-end timing repeats")
    parser.add_argument("--frontend-seconds", type=int, default=10, help="seconds of audio for front-end cost")
    parser.add_argument("--limit", type=int, default=0, help="score only this many clips (a quick look)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as on a busy Pi
    try:
        report = run(args)
    except AuricleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    results_io.write(args.out, report)
    print(table(report))
    for goal in report["goal"]:
        print(f"goal ({goal['model']}, {goal['set']}): balanced accuracy {fmt(goal['balanced_accuracy'])} "
              f">= {goal['balanced_accuracy_min']}, {goal['model_bytes']} B <= {goal['model_bytes_max']}, "
              f"latency x{fmt(goal['latency_ratio_to_micro_speech'], '.2f')} <= {goal['latency_ratio_max']}: "
              f"{'MET' if goal['met'] else 'NOT met'}")
    for name, why in report["skipped"].items():
        print(f"skipped {name}: {why}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

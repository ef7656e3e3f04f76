"""Which zoo models convert to streaming int8, and what a streaming artifact costs per hop.

    python benchmarks/streaming_export.py --out benchmarks/results/streaming_export.json   # about 5 min

For the main job's model (``auricle train default``: its model, front end,
labels and detection hop) and every zoo model at its default size, tries
``quantize.export.streaming.to_streaming`` and records the refusal. For the
models with a ``streamable`` option it then builds that variant and writes
both int8 artifacts from the same calibration windows: the whole-window one
(re-run every hop) and the streaming one (one step of new frames per hop).
Per-hop cost is CPU time of one LiteRT invoke (XNNPACK, 1 thread), median over
``--repeats`` hops; bytes are the TFLite flatbuffer's. Weights are random
(seeded) and calibration windows are features of synthetic noise and tones:
cost and size do not depend on what the weights learned (how closely the two
artifacts agree does, so that is measured on trained models: metrics.json of a
run, tests/test_export_streaming_stage.py).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import results_io  # noqa: E402


def calibration_windows(frontend, count: int, seed: int) -> np.ndarray:
    """Feature windows of faint noise with a tone burst at a random pitch and place."""
    from sdk.frontend import features

    rng = np.random.default_rng(seed)
    n = frontend.clip_samples
    out = []
    for _ in range(count):
        audio = rng.normal(0, 10 ** (rng.uniform(-70, -30) / 20), n).astype(np.float32)
        length = int(rng.uniform(0.2, 0.6) * frontend.sample_rate)
        start = int(rng.integers(0, n - length))
        t = np.arange(length) / frontend.sample_rate
        audio[start : start + length] += rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * rng.uniform(200, 4000) * t)
        out.append(features(audio, config=frontend))
    return np.stack(out).astype(np.float32)


def cpu_ms_per_call(call, repeats: int) -> float:
    """Median CPU milliseconds of one call (after a warm-up)."""
    for _ in range(5):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        call()
        times.append(time.process_time() - t0)
    return 1000 * float(np.median(times))


def measure(model, windows, frontend, labels, step: int, repeats: int) -> dict:
    from quantize.export import streaming_stage
    from quantize.export.int8 import to_tflite
    from quantize.train import zoo
    from sdk.bundle import Bundle, Head
    from sdk.engine import Engine
    from sdk.streaming import StreamingEngine

    head = [Head("output", tuple(labels), background=("_unknown_", "_silence_"))]
    window_tflite = to_tflite(model, mode="int8", calibration=windows)
    stream_tflite, meta = streaming_stage.convert(model, windows, frames_per_step=step)
    window = Bundle.create(window_tflite, frontend=frontend, heads=head, name="window")
    stream = Bundle.create(stream_tflite, frontend=frontend, heads=head, name="streaming", streaming=meta)
    engine, stepper = Engine(window, threads=1), StreamingEngine(stream, threads=1)
    one_window, one_step = windows[:1], windows[0, :step]
    return {
        "params": zoo.count_params(model),
        "macs_per_window": zoo.count_macs(model),
        "window_int8_bytes": len(window_tflite),
        "streaming_int8_bytes": len(stream_tflite),
        "states": len(meta["states"]),
        "window_cpu_ms_per_hop": cpu_ms_per_call(lambda: engine.predict_batch(one_window), repeats),
        "streaming_cpu_ms_per_hop": cpu_ms_per_call(lambda: stepper.step(one_step), repeats),
    }


def window_cost(model, windows, frontend, labels, repeats: int) -> dict:
    """The model as it is today: whole-window int8 artifact, re-run every hop."""
    from quantize.export.int8 import to_tflite
    from quantize.train import zoo
    from sdk.bundle import Bundle, Head
    from sdk.engine import Engine

    tflite = to_tflite(model, mode="int8", calibration=windows)
    engine = Engine(Bundle.create(tflite, frontend=frontend, heads=[Head("output", tuple(labels))]), threads=1)
    return {"macs_per_window": zoo.count_macs(model), "int8_bytes": len(tflite),
            "cpu_ms_per_hop": cpu_ms_per_call(lambda: engine.predict_batch(windows[:1]), repeats)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/streaming_export.json")
    parser.add_argument("--calibration", type=int, default=100, help="calibration windows per model")
    parser.add_argument("--repeats", type=int, default=200, help="hops timed per artifact")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    import quantize  # noqa: F401  (legacy Keras before TensorFlow loads)
    import tf_keras as keras

    from quantize import recipe as qrecipe
    from quantize.export import streaming_stage
    from quantize.train import zoo
    from sdk.errors import ConfigError

    recipe = qrecipe.load("default")
    frontend, labels = recipe.frontend_config(), recipe.labels
    step = streaming_stage.frames_per_step(recipe)
    shape = (frontend.clip_frames, frontend.num_features)
    windows = calibration_windows(frontend, args.calibration, args.seed)
    cases = [(f"default recipe: {recipe.model.name} {recipe.model.params}", recipe.model.name, recipe.model.params)]
    cases += [(name, name, {}) for name in sorted(zoo.MODELS)]
    results = {"frontend": frontend.to_dict(), "labels": labels, "frames_per_step": step,
               "calibration_windows": args.calibration, "models": {}}
    for title, name, params in cases:
        keras.utils.set_random_seed(args.seed)
        entry = {"model": name, "params": params}
        asks = recipe.model_copy(update={  # the default recipe with this model, asking for streaming_int8
            "model": recipe.model.model_copy(update={"name": name, "params": params}),
            "export": recipe.export.model_copy(update={"modes": ["int8", streaming_stage.MODE]})})
        try:
            streaming_stage.check(asks)  # what `auricle train` says to such a recipe
            entry["converts"] = True
        except ConfigError as exc:
            entry["converts"], entry["refused"] = False, str(exc)
        entry["window_as_is"] = window_cost(zoo.build(name, shape, len(labels), **params), windows, frontend, labels,
                                            args.repeats)
        if "streamable" in inspect.signature(zoo.MODELS[name]).parameters:
            keras.utils.set_random_seed(args.seed)
            model = zoo.build(name, shape, len(labels), **{**params, "streamable": True})
            entry["streamable_variant"] = measure(model, windows, frontend, labels, step, args.repeats)
        results["models"][title] = entry
        print(title, {k: v for k, v in entry.items() if k not in ("params",)}, flush=True)
    results_io.write(args.out, results, seeds=[args.seed], elapsed_s=time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every zoo model, untrained at its default input, through `export-mcu`; arena probes never crash the caller."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fw_helpers import REPO, tflm_dir, zoo_bundle_paths
from sdk.bundle import Bundle, strip_metadata
from sdk.errors import ModelError

pytest.importorskip("tflite_micro")
pytest.importorskip("tensorflow")

# What each untrained zoo model meets in TFLite Micro. A refusal must name the reason.
REFUSED = {
    # The unrolled GRU's zero state is FILL(SHAPE(batch)): TFLM has no dynamic-shape FILL.
    "crnn": r"crnn\S*: TFLite Micro refuses the model .*Non-constant >dims< tensor is not supported / Node FILL",
    # Untrained, 276 channels: logits so close that the int8 softmax input scale is < 2**-26.
    "ds_cnn_l": r"ds_cnn_l\S*: the int8 SOFTMAX input scale .* is at or below 2\*\*-26",
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return {name: Bundle.load(path) for name, path in zoo_bundle_paths().items()}


@pytest.fixture(scope="module")
def exports(zoo, tmp_path_factory):
    from firmware_bridge.export import export

    results, refusals = {}, {}
    for name, bundle in zoo.items():
        try:
            results[name] = export(bundle, tmp_path_factory.mktemp(name), name=name)
        except ModelError as exc:
            refusals[name] = str(exc)
    return results, refusals


def test_every_zoo_model_exports_or_is_refused_with_its_reason(zoo, exports):
    import re

    results, refusals = exports
    assert set(results) | set(refusals) == set(zoo) and len(zoo) >= 6
    assert set(refusals) == set(REFUSED), refusals
    for name, pattern in REFUSED.items():
        assert re.search(pattern, refusals[name]), refusals[name]
    for name, result in results.items():
        assert result.report["max_diff_steps"] <= 1, (name, result.report)
        assert result.arena_measured_bytes > 0 and result.arena_bytes >= result.arena_measured_bytes


def test_refusals_are_real_tflm_failures(zoo, tmp_path):
    """Without the checks, TFLM aborts on ds_cnn_l (in a child here) and refuses crnn's FILL."""
    path = tmp_path / "ds_cnn_l.tflite"
    path.write_bytes(strip_metadata(zoo["ds_cnn_l"].model))
    probe = ("import numpy as np, sys\nfrom tflite_micro.python.tflite_micro import runtime\n"
             f"runtime.Interpreter.from_bytes(open({str(path)!r}, 'rb').read(), arena_size=4 << 20)\n")
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True)
    assert child.returncode < 0, child  # killed by a signal (SIGABRT from TFLITE_CHECK), not an exception


def test_arena_probe_survives_a_crashing_probe(zoo, tmp_path):
    """bc_resnet's 16 KiB probe kills TFLM's Python interpreter; measure_arena still answers."""
    from firmware_bridge.arena import largest_activation_bytes, measure_arena
    from firmware_bridge.tflm import MicroInterpreter

    model = strip_metadata(zoo["bc_resnet"].model)
    path = tmp_path / "bc_resnet.tflite"
    path.write_bytes(model)
    child = subprocess.run([sys.executable, "-m", "firmware_bridge.arena", str(path), "16383", "16385", str(1 << 26)],
                           capture_output=True, text=True, cwd=REPO)
    assert child.returncode < 0 and child.stdout.split() == ["try", "16384"], child  # the premise: it crashes
    measured = measure_arena(model, source="bc_resnet")
    assert measured > largest_activation_bytes(model)
    window = np.zeros(zoo["bc_resnet"].inputs[0].shape, np.int8)
    MicroInterpreter(model, arena_bytes=measured).invoke(window)
    with pytest.raises(ModelError, match="cannot load the model"):
        MicroInterpreter(model, arena_bytes=measured - 16)


def test_every_exported_resolver_compiles_against_real_tflm(exports, tmp_path):
    """All exported resolvers (and their headers) in one translation unit, against TFLM's own headers."""
    from firmware_bridge.build import include_flags
    from fw_helpers import compiler

    results, _ = exports
    unit = tmp_path / "resolvers.cc"
    unit.write_text("".join(f'#include "{r.out_dir / (name + "_resolver.cc")}"\n' for name, r in results.items())
                    + "int main() {\n" + "".join(f"  {{ {name}::OpResolver r; {name}::RegisterOps(r); }}\n"
                                                   for name in results) + "}\n")
    flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "-DTF_LITE_STATIC_MEMORY",
             *include_flags(tflm_dir()), *[f"-I{r.out_dir}" for r in results.values()]]
    result = subprocess.run([compiler("g++"), *flags, str(unit)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D"} <= {
        m for r in results.values() for m in __import__("re").findall(r"resolver\.(Add\w+)\(\)",
                                                                         (r.out_dir / f"{r.name}_resolver.cc").read_text())}


@pytest.mark.slow
def test_cli_export_mcu_on_the_default_jobs_model(tmp_path):
    """The README's main job (`auricle train default`, ds_cnn_s; reduced here) then `auricle export-mcu` on it:
    exit 139 (segmentation fault) before the arena probes moved into child processes."""
    import json

    from quantize import pipeline
    from quantize import recipe as qrecipe

    values = qrecipe.load("default").resolved()
    values["data"]["sources"][0].update(variants_per_word=40, unknown_words=60)
    values["train"].update(epochs=20, batch_size=32)
    values["teacher"] = None  # the export is what is tested here; test_train_pipeline runs the teacher
    values["export"]["modes"].remove("embedding_int8")  # the teacher's head: no teacher here
    run_dir = pipeline.run(values, tmp_path / "default", verbose=0)
    model = run_dir / "model_int8.tflite"
    assert values["model"]["name"] == "ds_cnn_s"
    out = tmp_path / "mcu"
    run = subprocess.run([sys.executable, "-m", "sdk.cli", "export-mcu", str(model), str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    report = json.loads(next(out.glob("*_report.json")).read_text())
    assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= set(report["ops"]) and report["max_diff_steps"] <= 1, report

"""`auricle export-mcu`: C sources for TFLite Micro, checked by gcc and by the TFLM interpreter."""
from __future__ import annotations

import json
import math
import re
import subprocess

import numpy as np
import pytest

from conftest import synthesize
from firmware_bridge.export import export
from sdk.bundle import strip_metadata
from firmware_bridge.tflm import TFLM_BUILTINS, MicroInterpreter, model_ops, resolver_method
from firmware_bridge.verify import verify
from fw_helpers import build, tflm_dir
from sdk.bundle import Bundle
from sdk.errors import ConfigError, ModelError

pytest.importorskip("tflite_micro")

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
         "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def bundle(tiny_model_int8):
    return Bundle.load(tiny_model_int8[3])


@pytest.fixture(scope="module")
def exported(bundle, tmp_path_factory):
    return export(bundle, tmp_path_factory.mktemp("mcu"), name="tiny")


def litert_ops(model: bytes) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return {d["op_name"] for d in interpreter._get_ops_details()}


def test_files_and_report(exported):
    names = sorted(p.name for p in exported.out_dir.iterdir())
    assert names == sorted(["tiny_model.h", "tiny_model.cc", "tiny_config.h", "tiny_resolver.h", "tiny_resolver.cc",
                            "tiny_model.tflite", "tiny_report.json"])
    report = json.loads((exported.out_dir / "tiny_report.json").read_text())
    assert report["arena_bytes"] == exported.arena_bytes and report["ops"] == exported.ops
    assert report["flash"]["model_array_bytes"] == exported.model_bytes
    assert report["max_diff_steps"] <= 1


def test_op_list_is_the_models_own(exported, bundle):
    assert set(exported.ops) == litert_ops(bundle.model)  # LiteRT's reading of the same graph
    assert len(exported.ops) == len(set(exported.ops))
    resolver = (exported.out_dir / "tiny_resolver.cc").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\)", resolver)
    assert calls == [resolver_method(op) for op in exported.ops]
    header = (exported.out_dir / "tiny_resolver.h").read_text()
    assert f"kOpCount = {len(exported.ops)};" in header


def test_model_array_is_the_stripped_model(exported, bundle):
    text = (exported.out_dir / "tiny_model.cc").read_text()
    assert "alignas(16) const unsigned char kModel[]" in text
    array = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", text))
    assert array == strip_metadata(bundle.model) == (exported.out_dir / "tiny_model.tflite").read_bytes()
    assert b"auricle.bundle" in bundle.model and b"auricle.bundle" not in array
    assert exported.model_bytes < exported.model_bytes_with_metadata
    assert model_ops(array) == model_ops(bundle.model)


def test_generated_sources_compile_and_hold_the_models_numbers(exported, bundle, tmp_path):
    out = exported.out_dir
    flags = [f"-I{out}"]
    probe = tmp_path / "probe.cc"
    probe.write_text("""
#include <cstdio>
#include "tiny_config.h"
#include "tiny_model.h"
int main() {
  unsigned long sum = 0;
  for (unsigned i = 0; i < tiny::kModelLen; ++i) sum = sum * 31 + tiny::kModel[i];
  std::printf("%u %lu %lu\\n", tiny::kModelLen, sum, (unsigned long)((unsigned long)tiny::kModel % 16));
  std::printf("%.9g %d %.9g %d\\n", tiny::kInputScale, tiny::kInputZeroPoint, tiny::kOutputScale, tiny::kOutputZeroPoint);
  std::printf("%d %d %d %d %d %d %.9g %.9g %.9g\\n", tiny::kSampleRateHz, tiny::kWindowSamples, tiny::kHopSamples,
              tiny::kFftSize, tiny::kMelBins, tiny::kClipFrames, tiny::kMelFminHz, tiny::kMelFmaxHz, tiny::kLogFloor);
  for (int i = 0; i < tiny::kLabelCount; ++i) std::printf("%s=%.9g ", tiny::kLabels[i], tiny::kThresholds[i]);
  std::printf("\\n%d %u\\n", tiny::kTensorArenaSize, tiny::kLabelsHash);
}
""")
    exe = build(tmp_path / "probe", [probe, out / "tiny_model.cc"], cxx=True, flags=flags)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    model = strip_metadata(bundle.model)
    checksum = 0
    for b in model:
        checksum = (checksum * 31 + b) % (1 << 64)
    assert lines[0] == f"{len(model)} {checksum} 0"  # same bytes, 16-byte aligned
    inp, outp = bundle.inputs[0], bundle.outputs[0]
    scale_in, zero_in, scale_out, zero_out = lines[1].split()
    assert (np.float32(scale_in), int(zero_in)) == (np.float32(inp.scale), inp.zero_point)
    assert (np.float32(scale_out), int(zero_out)) == (np.float32(outp.scale), outp.zero_point)
    fe = bundle.frontend
    assert lines[2].split()[:6] == [str(v) for v in (fe.sample_rate, fe.window_samples, fe.hop_samples, fe.n_fft,
                                                     fe.n_mels, fe.clip_frames)]
    assert [float(v) for v in lines[2].split()[6:]] == pytest.approx([fe.fmin_hz, fe.fmax_hz, fe.log_floor])
    pairs = [item.split("=") for item in lines[3].split()]
    assert [label for label, _ in pairs] == list(bundle.labels)
    assert [np.float32(t) for _, t in pairs] == [np.float32(bundle.detection.threshold)] * len(bundle.labels)
    from firmware_bridge.protocol import labels_hash

    assert lines[4] == f"{exported.arena_bytes} {labels_hash(bundle.labels)}"


def test_resolver_names_are_tflms_own():
    """Every op TFLM has maps to a method its real MicroMutableOpResolver declares (AddConv2D, not AddConv2d)."""
    header = (tflm_dir() / "tflite-micro" / "tensorflow" / "lite" / "micro" / "micro_mutable_op_resolver.h").read_text()
    declared = set(re.findall(r"TfLiteStatus (Add\w+)\(", header))
    assert {op: resolver_method(op) for op in TFLM_BUILTINS if resolver_method(op) not in declared} == {}
    assert resolver_method("CONV_2D") == "AddConv2D" and resolver_method("L2_POOL_2D") == "AddL2Pool2D"


def test_tflm_op_table_matches_the_installed_wheel():
    import pathlib

    import tflite_micro
    from ai_edge_litert import schema_py_generated as schema

    library = next(pathlib.Path(tflite_micro.__file__).parent.rglob("_runtime*.so")).read_bytes()
    registered = {m.decode() for m in re.findall(rb"Register_([A-Z0-9_]+)Ev", library)}
    builtins = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert registered & builtins == set(TFLM_BUILTINS)


def test_arena_is_measured(exported, bundle):
    model = strip_metadata(bundle.model)
    measured = exported.arena_measured_bytes
    window = np.zeros(bundle.inputs[0].shape, np.int8)
    MicroInterpreter(model, arena_bytes=measured).invoke(window)
    for k in (1, 2, 8):
        with pytest.raises(ModelError, match="cannot load the model"):
            MicroInterpreter(model, arena_bytes=measured - 16 * k)
    assert exported.arena_bytes == math.ceil(measured * 1.1 / 16) * 16
    config = (exported.out_dir / "tiny_config.h").read_text()
    assert f"kTensorArenaSize = {exported.arena_bytes};" in config


@pytest.fixture(scope="module")
def speech_windows(bundle, tmp_path_factory):
    """~20 feature windows of real (synthetic) speech: one word per window."""
    from sdk.audio import load_audio
    from sdk.frontend import features

    folder = tmp_path_factory.mktemp("words")
    fe = bundle.frontend
    windows = []
    for i, word in enumerate(WORDS):
        audio = load_audio(synthesize(word, folder / f"{word}.wav", voice=["en", "en-us"][i % 2]), fe.sample_rate)
        clip = np.zeros(fe.clip_samples, np.float32)
        clip[: min(len(audio), fe.clip_samples)] = audio[: fe.clip_samples]
        windows.append(features(clip, config=fe))
    return np.stack(windows)


def test_tflm_matches_litert_on_speech_features(bundle, speech_windows):
    report = verify(bundle, speech_windows)
    assert report["windows"] == len(WORDS)
    assert report["max_diff_steps"] <= 1, report  # LiteRT's reference kernels, as TFLM's


@pytest.fixture(scope="module")
def logits_bundle(bundle, speech_windows):
    """The tiny architecture without softmax, calibrated on speech: int8 outputs that vary widely.

    The softmax of an untrained model sits near one value (4 distinct outputs
    over 20 words), which would make a 1-step comparison weak; logits do not.
    """
    import quantize  # noqa: F401
    import tensorflow as tf
    import tf_keras as keras

    from quantize.export.int8 import to_tflite

    tf.random.set_seed(1)
    fe = bundle.frontend
    inputs = keras.Input((fe.clip_frames, fe.num_features))
    x = keras.layers.Reshape((fe.clip_frames, fe.num_features, 1))(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = to_tflite(keras.Model(inputs, outputs), mode="int8", calibration=speech_windows)
    return Bundle.create(model, frontend=fe, labels=list(bundle.labels), name="logits")


def test_tflm_matches_litert_on_speech_logits(logits_bundle, speech_windows):
    from sdk.engine import Engine

    report = verify(logits_bundle, speech_windows)
    # Against LiteRT's reference kernels (what TFLM implements). XNNPACK's int8
    # kernels round differently: 0-3 steps over 8 seeds here, so only reported.
    assert report["max_diff_steps"] <= 1, report
    assert report["max_diff_steps_xnnpack"] is not None
    # The comparison could fail: outputs span many int8 steps and differ per word.
    scores = Engine(logits_bundle, xnnpack=False).predict_batch(speech_windows)[0]
    steps = np.round(scores / logits_bundle.outputs[0].scale)
    assert len({tuple(row) for row in steps}) >= 15 and np.ptp(steps) > 50, steps


def test_verify_refuses_wrong_shapes(bundle):
    with pytest.raises(ConfigError, match="do not match the model input"):
        verify(bundle, np.zeros((2, 10, 40), np.float32))


@pytest.fixture(scope="module")
def gelu_bundle(bundle):
    """A float model with a GELU op: TFLite has it, TFLite Micro does not."""
    import quantize  # noqa: F401
    import tf_keras as keras

    from quantize.export.int8 import to_tflite

    fe = bundle.frontend
    inputs = keras.Input((fe.clip_frames, fe.num_features))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="gelu")(x)
    model = to_tflite(keras.Model(inputs, outputs), mode="float32")
    return Bundle.create(model, frontend=fe, labels=list(bundle.labels), name="gelu")


def test_unsupported_op_is_refused_before_writing(gelu_bundle, tmp_path):
    from tflite_micro.python.tflite_micro import runtime

    from firmware_bridge.tflm import captured_native_output

    assert "GELU" in model_ops(gelu_bundle.model)
    with captured_native_output() as log, pytest.raises(RuntimeError):  # TFLM itself really lacks it
        runtime.Interpreter.from_bytes(gelu_bundle.model, arena_size=1 << 20)
    assert any("GELU" in line for line in log)
    out = tmp_path / "never"
    with pytest.raises(ModelError, match=r"TFLite Micro has no kernel for op\(s\) GELU"):
        export(gelu_bundle, out)
    assert not out.exists()


def main(argv) -> int:
    """`auricle ARGV` in-process: sdk.cli.main returns 2 on AuricleError, click exits 0 on success."""
    from sdk.cli import main as cli_main

    try:
        return cli_main(argv)
    except SystemExit as exc:
        return exc.code


def test_cli_export_mcu(tiny_model_int8, gelu_bundle, tmp_path, capsys):
    out = tmp_path / "kws"
    assert main(["export-mcu", str(tiny_model_int8[3]), str(out), "--name", "kws-v2", "--arena-margin", "1.25"]) == 0
    report = json.loads((out / "kws_v2_report.json").read_text())
    assert report["arena_bytes"] == math.ceil(report["arena_measured_bytes"] * 1.25 / 16) * 16
    assert "kws_v2::" not in (out / "kws_v2_config.h").read_text() and "namespace kws_v2" in (out / "kws_v2_config.h").read_text()
    assert main(["export-mcu", str(tiny_model_int8[3]), str(out), "--name", "kws-v2"]) == 2  # no overwrite
    assert "already holds" in capsys.readouterr().err
    assert main(["export-mcu", str(tiny_model_int8[3]), str(out), "--name", "kws-v2", "--force", "--keep-metadata"]) == 0
    assert json.loads((out / "kws_v2_report.json").read_text())["flash"]["model_array_bytes"] == report["model_bytes_with_metadata"]
    gelu_path = tmp_path / "gelu.tflite"
    gelu_bundle.save(gelu_path)
    assert main(["export-mcu", str(gelu_path), str(tmp_path / "g")]) == 2
    assert "GELU" in capsys.readouterr().err


def test_bad_margin_refused(bundle, tmp_path):
    with pytest.raises(ConfigError, match="arena_margin=0.5"):
        export(bundle, tmp_path, arena_margin=0.5)


@pytest.mark.parametrize("budget, match", [({"ram_kb": 4}, r"tiny.tflite: needs \d+ bytes .* of RAM, over the 4 KB budget"),
                                           ({"flash_kb": 16}, r"tiny.tflite: needs \d+ bytes .* of flash, over the 16 KB budget")])
def test_over_budget_is_refused_before_writing(bundle, tmp_path, budget, match):
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match=match):
        export(bundle, out, **budget)
    assert not out.exists()
    roomy = export(bundle, tmp_path / "fits", ram_kb=1024, flash_kb=1024)  # the same model fits a larger part
    assert roomy.report["ram"]["total"] <= 1024 * 1024 and roomy.report["ram"]["tensor_arena"] == roomy.arena_bytes


def test_front_end_the_c_side_cannot_compute_is_refused(bundle, tmp_path):
    import dataclasses

    odd = Bundle.create(bundle.model, frontend=dataclasses.replace(bundle.frontend, n_fft=500),
                        labels=list(bundle.labels), name="odd")
    with pytest.raises(ConfigError, match=r"n_fft=500; the C front end needs a power of two"):
        export(odd, tmp_path / "never")
    assert not (tmp_path / "never").exists()

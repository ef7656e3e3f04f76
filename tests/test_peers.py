"""The peer benchmark: micro_speech held to its published test vectors, scoring, sizes, skipping.

The micro_speech model files are read from ../shared/peers ($AURICLE_PEERS,
else next to $AURICLE_DATA); tests that need them skip when absent. The
vectors in tests/data/micro_speech_vectors.json are numbers from the
example's own Apache-2.0 source files (provenance inside the file).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib

import numpy as np
import pytest

from benchmarks import micro_speech as msp
from benchmarks import peer_report, peers
from benchmarks.model_stats import litert_invoke, parameter_count, size_report
from sdk.errors import AudioError, ConfigError, ModelError

VECTORS = json.loads((pathlib.Path(__file__).parent / "data" / "micro_speech_vectors.json").read_text())
REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_ROOT = pathlib.Path(os.environ.get("AURICLE_DATA", REPO.parent / "shared" / "data"))
PEERS = pathlib.Path(os.environ.get("AURICLE_PEERS", DATA_ROOT.parent / "peers"))


@pytest.fixture(scope="module")
def peers_dir() -> pathlib.Path:
    if not (PEERS / msp.CLASSIFIER_FILE).is_file():
        pytest.skip(f"published peer models not present at {PEERS}")
    pytest.importorskip("tflite_micro")
    return PEERS


@pytest.fixture(scope="module")
def micro_speech(peers_dir) -> msp.MicroSpeech:
    return msp.MicroSpeech(peers_dir)


# ------------------------------------------- micro_speech vs its own vectors


@pytest.mark.parametrize(
    "name, sha256",
    [  # ../shared/peers/SOURCES.md: the unchanged files of tensorflow/tflite-micro and MLTK
        (msp.CLASSIFIER_FILE, "09e5e2a9dfb2d8ed78802bf18ce297bff54281a66ca18e0c23d69ca14f822a83"),
        (msp.FRONTEND_FILE, "278949d197166fb8b580c0bdc94e902fb709fec0569dcf5766816b28285440e5"),
        (peers.MLTK_FILE, "c37e039ac276600420eae56f3563f4adbb531e05dea2354d273da18b4612c58b"),
    ],
)
def test_peer_files_are_the_published_ones(peers_dir, name, sha256):
    from benchmarks.model_stats import digest

    assert digest((peers_dir / name).read_bytes()) == sha256


@pytest.mark.parametrize("word", ["no", "yes"])
def test_frontend_matches_published_30ms_features(micro_speech, word):
    samples = np.array(VECTORS["samples_30ms"][word], np.int16)
    micro_speech.frontend.reset()
    got = micro_speech.frame_features(samples)
    assert got.tolist() == VECTORS["features_30ms"][word]  # bit-exact, all 40 channels


def test_frontend_state_carries_over_until_reset(micro_speech):
    samples = np.array(VECTORS["samples_30ms"]["no"], np.int16)
    micro_speech.frontend.reset()
    first = micro_speech.frame_features(samples)
    second = micro_speech.frame_features(samples)  # noise estimate has moved on
    assert not np.array_equal(first, second)
    micro_speech.frontend.reset()
    assert np.array_equal(micro_speech.frame_features(samples), first)


def test_features_reset_per_clip_and_frame_the_clip(micro_speech):
    clip = np.zeros(msp.CLIP_SAMPLES, np.int16)
    clip[:480] = VECTORS["samples_30ms"]["yes"]
    feats = micro_speech.features(clip)
    assert feats.shape == (49, 40) and feats.dtype == np.int8
    assert feats[0].tolist() == VECTORS["features_30ms"]["yes"]
    assert np.array_equal(micro_speech.features(clip), feats)  # no state leaks between clips
    short = micro_speech.features(clip[:8000])  # padded with zeros at the end
    assert np.array_equal(short[:20], feats[:20])


def test_classifier_gives_published_scores_on_golden_no(micro_speech):
    feats = np.array(VECTORS["features_1000ms"]["no"], np.int8).reshape(49, 40)
    scores = micro_speech.classify(feats)
    # README / example: [0, 0.0547, 0, 0.9453] for silence, unknown, yes, no; int8 -128, -114, -128, 114
    assert scores.tolist() == [0.0, 14 / 256, 0.0, 242 / 256]
    np.testing.assert_allclose(scores, VECTORS["expected_scores_no"], atol=5e-5)


def test_classifier_says_yes_on_golden_yes(micro_speech):
    feats = np.array(VECTORS["features_1000ms"]["yes"], np.int8).reshape(49, 40)
    scores = micro_speech.classify(feats)
    assert micro_speech.labels[int(np.argmax(scores))] == "yes"
    assert scores[2] > 0.99


@pytest.mark.parametrize("word", ["no", "yes"])
def test_litert_xnnpack_agrees_with_tflm(micro_speech, word):
    feats = np.array(VECTORS["features_1000ms"][word], np.int8).reshape(1, 1960)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=micro_speech.classifier_path.read_bytes(), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feats)
    interpreter.invoke()
    litert = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1)
    tflm = micro_speech.classify(feats)
    np.testing.assert_array_equal((litert.astype(np.float32) + 128) / 256, tflm)


def test_micro_speech_refuses_bad_input(micro_speech):
    with pytest.raises(AudioError, match="int16 mono"):
        micro_speech.features(np.zeros(16000, np.float32))
    with pytest.raises(AudioError, match="1960 values"):
        micro_speech.classify(np.zeros((49, 39), np.int8))


def test_micro_speech_missing_folder_names_the_file(tmp_path):
    pytest.importorskip("tflite_micro")
    with pytest.raises(ModelError, match="audio_preprocessor_int8.tflite: no such model file"):
        msp.MicroSpeech(tmp_path)


def test_read_int16_refuses_wrong_rate(tmp_path):
    import soundfile

    path = tmp_path / "clip8k.wav"
    soundfile.write(path, np.zeros(8000, np.int16), 8000)
    with pytest.raises(AudioError, match="16000 Hz mono, got 8000 Hz"):
        msp.read_int16(path)


# --------------------------------------------------------- sizes, latency


def test_parameter_count_by_hand(peers_dir):
    data = (peers_dir / msp.CLASSIFIER_FILE).read_bytes()
    # depthwise 10x8 kernel x 8 channels + 8 biases; dense 4000 -> 4 + 4 biases; reshape shape not counted
    assert parameter_count(data) == 10 * 8 * 8 + 8 + 4000 * 4 + 4
    report = size_report(data)
    assert report == {"file_bytes": 18800, "metadata_bytes": 0, "model_bytes": 18800, "parameters": 16652}


def test_size_report_separates_auricle_metadata(tiny_model_int8):
    from sdk.bundle import Bundle

    _, tflite, _, path = tiny_model_int8
    bundle = Bundle.load(path)
    report = size_report(bundle.model)
    assert report["metadata_bytes"] > 100
    assert report["file_bytes"] == len(bundle.model)
    assert report["parameters"] == parameter_count(tflite)  # metadata adds no parameters


def test_parameter_count_refuses_non_tflite():
    with pytest.raises(ModelError, match="not a TFLite model"):
        parameter_count(b"not a model at all")


def test_litert_invoke_runs_the_model_on_the_given_window(peers_dir):
    from ai_edge_litert.interpreter import Interpreter

    data = (peers_dir / msp.CLASSIFIER_FILE).read_bytes()
    window = np.random.default_rng(0).uniform(0, 26, 1960).astype(np.float32)  # micro_speech's feature range
    reference = Interpreter(model_content=data)  # the window quantized by hand, on a separate interpreter
    reference.allocate_tensors()
    given, out = reference.get_input_details()[0], reference.get_output_details()[0]
    scale, zero = given["quantization"]
    reference.set_tensor(given["index"], np.clip(np.round(window / scale) + zero, -128, 127).astype(np.int8)[None])
    reference.invoke()
    expected = reference.get_tensor(out["index"])
    run = litert_invoke(data, window)
    for _ in range(2):  # a second call reuses the input set once
        run()
        np.testing.assert_array_equal(run.__self__.get_tensor(out["index"]), expected)
    zeros = litert_invoke(data, np.zeros(1960, np.float32))
    zeros()
    assert not np.array_equal(zeros.__self__.get_tensor(out["index"]), expected)  # the window matters


# --------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    "label, four",
    [("yes", "yes"), ("no", "no"), ("up", "_unknown_"), ("_unknown_", "_unknown_"),
     ("_silence_", "_silence_"), ("_background_noise_", "_silence_"), ("silence", "_silence_"),
     ("unknown", "_unknown_")],
)
def test_to_four(label, four):
    assert peer_report.to_four(label) == four


def test_score_by_hand():
    truth = ["yes"] * 4 + ["no"] * 2 + ["_unknown_"] * 10 + ["_silence_"] * 4
    pred = ["yes", "yes", "yes", "no"] + ["no", "no"] + ["_unknown_"] * 9 + ["yes"] + ["_silence_"] * 4
    s = peer_report.score(truth, pred)
    assert s["clips"] == 20
    assert s["accuracy"] == pytest.approx(18 / 20)
    assert s["recall"] == {"yes": 0.75, "no": 1.0, "_unknown_": 0.9, "_silence_": 1.0}
    assert s["balanced_accuracy"] == pytest.approx((0.75 + 1 + 0.9 + 1) / 4)
    assert s["confusion"]["yes"]["no"] == 1 and s["confusion"]["_unknown_"]["yes"] == 1


def test_score_ignores_absent_classes_in_balanced_accuracy():
    s = peer_report.score(["yes", "yes", "no"], ["yes", "no", "no"])
    assert s["recall"]["_silence_"] is None
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)


def _entry(kind, labels, bal, model_bytes, invoke_ms):
    return {"kind": kind, "labels": labels, "input_dtype": "int8",
            "scores": {"heldout": {"balanced_accuracy": bal}}, "size": {"model_bytes": model_bytes},
            "latency": {"litert_xnnpack_1thread": {"median_ms": invoke_ms},
                        "engine_predict_1thread": {"median_ms": invoke_ms + 0.02}}}


@pytest.mark.parametrize(
    "bal, model_bytes, invoke_ms, met",
    [(0.96, 19_000, 0.030, True), (0.94, 19_000, 0.030, False), (0.96, 20_001, 0.030, False),
     (0.96, 19_000, 0.0376, False)],
)
def test_goal_check_each_condition(bal, model_bytes, invoke_ms, met):
    report = {"models": {"micro_speech": _entry("peer", list(peer_report.FOUR), 0.85, 18_800, 0.025),
                         "a4": _entry("auricle", list(peer_report.FOUR), bal, model_bytes, invoke_ms)}}
    goal = peer_report.goal_check(report, "a4", "heldout")
    assert goal["met"] is met
    assert goal["latency_ratio_to_micro_speech"] == pytest.approx(invoke_ms / 0.025)


def _seed_run(distilled, scratch, ratio, model_bytes=18_000):
    def figures(bal):
        return {"balanced_accuracy": bal, "accuracy": bal, "latency_ratio": ratio, "model_bytes": model_bytes}

    return {"models": {"distilled_int8": figures(distilled), "scratch_int8": figures(scratch)}}


def test_seed_summary_by_hand_and_goal_on_the_mean_and_the_slowest_seed():
    from benchmarks import teacher_micro_speech as tms

    summary = tms.summarise([_seed_run(0.96, 0.90, 0.5), _seed_run(0.94, 0.93, 0.7)])
    assert summary["distilled_int8"]["balanced_accuracy"]["mean"] == pytest.approx(0.95)
    assert summary["distilled_int8"]["balanced_accuracy"]["min"] == pytest.approx(0.94)
    assert summary["gain_points"]["mean"] == pytest.approx((6 + 1) / 2)
    assert summary["gain_points"]["n"] == 2
    assert summary["goal"]["met"] is True  # mean 0.95 reaches 0.95
    assert tms.summarise([_seed_run(0.96, 0.9, 0.5), _seed_run(0.93, 0.9, 0.5)])["goal"]["met"] is False
    assert tms.summarise([_seed_run(0.97, 0.9, 0.5), _seed_run(0.97, 0.9, 1.6)])["goal"]["met"] is False
    assert tms.summarise([_seed_run(0.97, 0.9, 0.5, 20_001)] * 2)["goal"]["met"] is False


def test_parse_models_refuses_bad_values():
    assert peers.parse_models(["a=x.tflite"]) == {"a": "x.tflite"}
    with pytest.raises(ConfigError, match="expected NAME=PATH"):
        peers.parse_models(["x.tflite"])
    with pytest.raises(ConfigError, match="already taken"):
        peers.parse_models(["micro_speech=x.tflite"])


def test_load_clips_names_missing_manifest(tmp_path):
    with pytest.raises(ConfigError, match="labels.csv: no such file"):
        peers.load_clips(tmp_path)


# ------------------------------------------------------ the whole command


def _args(tmp_path, **overrides):
    values = dict(out=str(tmp_path / "peers.json"), model=[], heldout_recipe=None, peers_dir=str(PEERS),
                  data=str(DATA_ROOT / "speech_commands_v2_test"), runs=40, repeats=1, frontend_seconds=2,
                  limit=24)
    values.update(overrides)
    return [f"--{k.replace('_', '-')}={v}" for k, v in values.items() if v not in (None, []) and k != "model"] + [
        f"--model={m}" for m in values["model"]
    ]


def test_benchmark_skips_peers_cleanly_when_absent(shared_data, tmp_path, capsys):
    peers.main(_args(tmp_path, peers_dir=str(tmp_path / "nowhere"), data=str(shared_data / "speech_commands_v2_test")))
    document = json.loads((tmp_path / "peers.json").read_text())
    assert document["environment"]["cpu"] and document["command"].startswith("python ")
    report = document["results"]
    assert report["models"] == {}
    assert set(report["skipped"]) == {"micro_speech", "mltk_ds_cnn"}
    assert "skipped micro_speech" in capsys.readouterr().out


def test_benchmark_scores_micro_speech_on_real_clips(shared_data, peers_dir, tmp_path, capsys):
    peers.main(_args(tmp_path, data=str(shared_data / "speech_commands_v2_test"), peers_dir=str(peers_dir)))
    report = json.loads((tmp_path / "peers.json").read_text())["results"]
    ms = report["models"]["micro_speech"]
    full = ms["scores"]["full"]
    assert full["clips"] == 24 and sum(sum(r.values()) for r in full["confusion"].values()) == 24
    assert full["accuracy"] > 0.5  # a real model on real speech, far above chance (0.25)
    assert ms["size"]["parameters"] == 16652
    assert ms["latency"]["litert_xnnpack_1thread"]["median_ms"] > 0
    assert ms["latency"]["tflm_python_interpreter"]["runs"] >= 40
    assert ms["frontend"]["streaming_ms_per_audio_s"] > 0
    assert report["models"]["mltk_ds_cnn"]["scores"] is None
    assert "micro_speech" in capsys.readouterr().out


# ------------------------------------------------ held-out speakers (pipeline)


def _tiny_speech_commands(root: pathlib.Path, speakers: int = 20) -> pathlib.Path:
    """A prepared-test-set layout: <label>/<speaker>_nohash_<n>.wav and labels.csv, 0.1 s clips."""
    import soundfile

    rows = ["path,label,spoken_word,speaker_hash"]
    for s in range(speakers):
        speaker = f"{s:08x}"
        for label in ("yes", "no", "up"):
            rel = f"{label}/{speaker}_nohash_0.wav"
            (root / label).mkdir(parents=True, exist_ok=True)
            soundfile.write(root / rel, np.full(1600, 100 * (s + 1), np.int16), 16000)
            rows.append(f"{rel},{label},{label},{speaker}")
    for i in range(6):
        rel = f"_silence_/{i}.wav"
        (root / "_silence_").mkdir(exist_ok=True)
        soundfile.write(root / rel, np.zeros(1600, np.int16), 16000)
        rows.append(f"{rel},_silence_,,")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _recipe(path: pathlib.Path, split: dict) -> dict:
    return {"name": "t", "seed": 0, "data": {"keywords": ["yes", "no"], "split": split,
                                             "sources": [{"kind": "speech_commands", "path": str(path)}]}}


def test_heldout_is_the_pipelines_test_split_and_speaker_disjoint(tmp_path):
    pytest.importorskip("quantize.pipeline")
    from benchmarks.heldout import split_paths

    root = _tiny_speech_commands(tmp_path / "sc")
    parts = split_paths(_recipe(root, {"train": 0.6, "val": 0.2, "test": 0.2}))
    assert parts["test"] and parts["train"]
    speaker = lambda p: pathlib.Path(p).name.split("_nohash_")[0] if "_nohash_" in p else p  # noqa: E731
    test_speakers = {speaker(p) for p in parts["test"]}
    assert test_speakers.isdisjoint({speaker(p) for p in parts["train"] | parts["val"]})
    assert sum(len(v) for v in parts.values()) == 20 * 3 + 6  # every clip in exactly one split
    # deterministic, and a provenance recipe (JSON, sorted keys) gives the same split
    assert split_paths(_recipe(root, {"test": 0.2, "train": 0.6, "val": 0.2})) == parts

    clips = peers.load_clips(root)
    held = peers.heldout_clips(clips, _write_recipe(tmp_path, root))
    assert {os.path.normpath(c["path"]) for c in held} == parts["test"]


def _write_recipe(tmp_path: pathlib.Path, root: pathlib.Path) -> str:
    import yaml

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(_recipe(root, {"train": 0.6, "val": 0.2, "test": 0.2}), sort_keys=False))
    return str(path)


def test_heldout_without_pipeline_or_with_bad_recipe_is_a_config_error(tmp_path):
    pytest.importorskip("quantize.pipeline")
    from benchmarks.heldout import split_paths

    with pytest.raises(ConfigError):
        split_paths(_recipe(tmp_path / "missing", {"train": 0.6, "val": 0.2, "test": 0.2}))


def test_micro_speech_recipes_hold_out_the_speech_commands_speakers():
    """The 4-class recipes split speakers exactly as speech_commands.yaml, so the 12-class
    model and the 4-class ones are scored on speakers none of them trained on."""
    qrecipe = pytest.importorskip("quantize.recipe")
    reference = qrecipe.load("speech_commands")
    for name in ("micro_speech_4class", str(REPO / "quantize/recipes/ablation/micro_speech_4class_dscnn.yaml")):
        parsed = qrecipe.load(name)
        assert parsed.labels == ["yes", "no", "_unknown_", "_silence_"]
        assert (parsed.seed, list(parsed.data.split.items()), parsed.data.test_speakers) == (
            reference.seed, list(reference.data.split.items()), reference.data.test_speakers)
        assert [s.path for s in parsed.data.sources if s.kind != "tts"] == [
            s.path for s in reference.data.sources if s.kind != "tts"]


def test_heldout_speakers_of_both_recipes_are_the_same_clips(shared_data):
    pytest.importorskip("quantize.pipeline")
    from benchmarks.heldout import split_paths

    four, twelve = split_paths("micro_speech_4class"), split_paths("speech_commands")
    assert four["test"] == twelve["test"] and len(four["test"]) > 300
    assert not four["test"] & (twelve["train"] | twelve["val"])


def test_benchmark_enters_an_auricle_artifact(shared_data, tiny_model_int8, tmp_path):
    _, _, _, path = tiny_model_int8  # untrained, labels yes / no / _silence_
    peers.main(_args(tmp_path, data=str(shared_data / "speech_commands_v2_test"),
                     peers_dir=str(tmp_path / "no_peers"), model=[f"tiny={path}"]))
    report = json.loads((tmp_path / "peers.json").read_text())["results"]
    tiny = report["models"]["tiny"]
    assert tiny["label_map"] == {"yes": "yes", "no": "no", "_silence_": "_silence_"}
    assert tiny["scores"]["full"]["clips"] == 24
    assert tiny["size"]["metadata_bytes"] > 0 and tiny["size"]["model_bytes"] < tiny["size"]["file_bytes"]
    assert tiny["frontend"]["streaming_ms_per_audio_s"] > 0 and tiny["latency"]["litert_xnnpack_1thread"]["runs"] >= 40
    assert report["goal"] == []  # three labels: not a 4-class entry


def test_seed_scoring_without_micro_speech_names_the_run_and_why(shared_data, tiny_model_int8, tmp_path):
    from benchmarks import teacher_micro_speech as tms

    run = tmp_path / "micro_speech_4class_s0"
    run.mkdir()
    (run / "recipe.yaml").write_text((REPO / "quantize/recipes/micro_speech_4class.yaml").read_text())
    (run / "model_int8.tflite").write_bytes(pathlib.Path(tiny_model_int8[3]).read_bytes())
    args = argparse.Namespace(data=str(shared_data / "speech_commands_v2_test"), peers_dir=str(tmp_path / "no_peers"),
                              timing_runs=5)
    with pytest.raises(ConfigError, match=r"micro_speech_4class_s0: micro_speech could not be scored.*no_peers"):
        tms.score_run(run, args)

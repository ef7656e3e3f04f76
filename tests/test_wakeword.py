"""Wake-word recipes: the wakeword: section, the file shares of negative audio, the checks, and a run end to end."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import soundfile
import yaml

from quantize import recipe as qrecipe
from quantize.data.labels import UNKNOWN
from quantize.wakeword import background, checks
from quantize.wakeword.settings import phrase_id
from sdk.errors import ConfigError


def _recipe(tmp_path, negatives, **wakeword) -> dict:
    return {"name": "ww", "wakeword": {"phrases": ["hey kitchen"], "negatives": [{"path": str(p)} for p in negatives],
                                       **wakeword}}


def _noise_folder(folder: pathlib.Path, count: int = 12, seconds: float = 6.0, seed: int = 0) -> pathlib.Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        colour = np.cumsum(rng.normal(0, 1, int(seconds * 16000))) if i % 2 else rng.normal(0, 1, int(seconds * 16000))
        colour = colour - colour.mean()
        soundfile.write(folder / f"noise_{i:02d}.wav", (0.1 * colour / (np.abs(colour).max() + 1e-9)).astype(np.float32),
                        16000)
    return folder


# ------------------------------------------------------------------ the recipe section

def test_phrase_ids_are_labels():
    assert phrase_id("Hey Kitchen") == "hey_kitchen"
    assert phrase_id("  okay   nabu! ") == "okay_nabu"


def test_expand_writes_data_model_and_exports(tmp_path):
    r = qrecipe.load(_recipe(tmp_path, [tmp_path]))
    assert r.labels == ["hey_kitchen", UNKNOWN, "_silence_"]
    assert r.data.say == {"hey_kitchen": "hey kitchen"}
    tts, negatives = r.data.sources
    assert tts.kind == "tts" and tts.near_misses and tts.near_miss_count == 24
    assert negatives.kind == "background" and negatives.role == "fit"
    assert (negatives.held_back, negatives.held_out) == (0.2, 0.3)
    assert r.model.params["streamable"] is True
    assert "streaming_int8" in r.export.modes
    assert r.frontend.clip_s == 1.5 and r.detection.refractory_s == 2.0


def test_a_resolved_wakeword_recipe_loads_again(tmp_path):
    r = qrecipe.load(_recipe(tmp_path, [tmp_path]) | {"teacher": {"epochs": 2}})
    r.dump(tmp_path / "recipe.yaml")
    again = qrecipe.load(tmp_path / "recipe.yaml")
    assert again.resolved() == r.resolved()
    assert again.teacher.context_s == 1.75  # the teacher hears the whole 1.5 s window
    assert again.teacher.filter_below == 0.05


def test_data_beside_wakeword_is_refused(tmp_path):
    values = _recipe(tmp_path, [tmp_path])
    values["data"] = {"keywords": ["yes"], "sources": [{"kind": "tts"}]}
    with pytest.raises(ConfigError, match="writes data: from wakeword"):
        qrecipe.load(values)


@pytest.mark.parametrize("phrases, message", [
    ([""], r"wakeword\.phrases: .*phrases\[0\]=''.*empty"),
    (["123"], r"phrases\[0\]='123'.*no letters"),
    ([], r"wakeword\.phrases"),
    (["Hey Kitchen", "hey kitchen"], r"repeat"),
])
def test_bad_phrases_name_the_key(tmp_path, phrases, message):
    with pytest.raises(ConfigError, match=message):
        qrecipe.load(_recipe(tmp_path, [tmp_path]) | {"wakeword": {"phrases": phrases, "negatives": [{"path": "x"}]}})


def test_unknown_wakeword_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"wakeword\.mining\.round: unknown key"):
        qrecipe.load(_recipe(tmp_path, [tmp_path], mining={"round": 2}))


def test_shares_must_leave_training_files(tmp_path):
    with pytest.raises(ConfigError, match="leave under 10 %"):
        qrecipe.load(_recipe(tmp_path, [tmp_path], held_back=0.5, held_out=0.45))


# ------------------------------------------------------------------ negative audio, split by file

def test_shares_are_fixed_by_the_path_and_near_their_fractions():
    names = [f"speaker_{i}/clip_{i}.wav" for i in range(4000)]
    shares = [background.share(n, held_back=0.2, held_out=0.3) for n in names]
    assert shares == [background.share(n, held_back=0.2, held_out=0.3) for n in names]
    for part, expected in (("calibration", 0.2), ("held_out", 0.3), ("train", 0.5)):
        assert abs(shares.count(part) / len(names) - expected) < 0.03
    # a larger held-out share only takes files from training, never from calibration
    wider = [background.share(n, held_back=0.2, held_out=0.4) for n in names]
    assert all(w == s for w, s in zip(wider, shares) if s != "train")


def test_files_split_a_folder_into_disjoint_shares(tmp_path):
    folder = _noise_folder(tmp_path / "neg", count=30, seconds=0.5)
    parts = {p: background.files(folder, p, held_back=0.2, held_out=0.3) for p in background.SHARES}
    assert sum(len(v) for v in parts.values()) == 30
    assert not set(parts["train"]) & set(parts["calibration"]) and not set(parts["train"]) & set(parts["held_out"])


def test_missing_or_empty_negative_folders_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        background.files(tmp_path / "absent", "train", held_back=0.2, held_out=0.3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty.*has no audio files"):
        background.files(tmp_path / "empty", "train", held_back=0.2, held_out=0.3)


def test_windows_cover_the_files_and_keep_a_file_in_one_speaker(tmp_path):
    folder = _noise_folder(tmp_path / "neg", count=3, seconds=6.0)
    files = sorted(folder.iterdir())
    clips = background.windows(files, max_windows=1000, clip_s=1.5, seed=0, root=folder)
    assert 3 * 3 <= len(clips) <= 3 * 4  # 6 s at 1.5 s, from a random offset
    for c in clips:
        assert c.label == UNKNOWN and 0 <= c.start_s <= 6.0 - 1.5
        assert c.speaker == f"background:{pathlib.Path(c.path).name}"
    assert len(background.windows(files, max_windows=5, clip_s=1.5, seed=0)) == 5


# ------------------------------------------------------------------ checks before any work

def test_a_missing_negative_folder_names_its_key(tmp_path):
    r = qrecipe.load(_recipe(tmp_path, [tmp_path / "absent"]))
    with pytest.raises(ConfigError, match=r"wakeword\.negatives\[0\]: folder .*absent does not exist"):
        checks.check(r)


def test_no_negative_folder_at_all_is_refused(tmp_path):
    values = _recipe(tmp_path, [])
    values["wakeword"]["negatives"] = [{"path": str(tmp_path / "a"), "optional": True}]
    with pytest.raises(ConfigError, match=r"wakeword\.negatives: none of the 1 folders exists"):
        checks.check(qrecipe.load(values))


def test_a_phrase_an_engine_cannot_say_names_key_and_engine(tmp_path, monkeypatch):
    from quantize.data import tts

    real = tts.synthesize_one

    def flite_fails(text, variant, out_dir):
        if variant.engine == "flite":
            raise ConfigError(f"tts: flite could not say {text!r}")
        return real(text, variant, out_dir)

    monkeypatch.setattr(tts, "synthesize_one", flite_fails)
    values = _recipe(tmp_path, [_noise_folder(tmp_path / "neg", count=2)], engines=["espeak-ng", "flite"])
    with pytest.raises(ConfigError, match=r"wakeword\.phrases\[0\]='hey kitchen': flite cannot say it"):
        checks.check(qrecipe.load(values))
    monkeypatch.setattr(tts, "synthesize_one", lambda *a: (_ for _ in ()).throw(ConfigError("tts: silent")))
    with pytest.raises(ConfigError, match="no TTS engine can say it"):
        checks.check(qrecipe.load(values))


def test_mined_windows_join_training_as_unknown_with_hard_soft_targets():
    from quantize.train.fit import Arrays
    from quantize.wakeword.stages import _with_mined

    labels = ["hey_kitchen", UNKNOWN, "_silence_"]
    arrays = Arrays(np.zeros((4, 5, 3), np.float32), np.array([0, 1, 2, -1]), np.zeros((2, 5, 3), np.float32),
                    np.array([0, 1]), soft_train=np.full((4, 3), 1 / 3, np.float32))
    out = _with_mined(arrays, np.ones((2, 5, 3), np.float32), labels)
    assert out.x_train.shape == (6, 5, 3) and list(out.y_train[-2:]) == [1, 1]
    np.testing.assert_array_equal(out.soft_train[-2:], [[0, 1, 0], [0, 1, 0]])
    assert out.x_val is arrays.x_val


# ------------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def wakeword_run(tmp_path_factory):
    from quantize import pipeline

    root = tmp_path_factory.mktemp("wakeword")
    negatives = _noise_folder(root / "negatives", count=40, seconds=8.0)
    values = {
        "name": "hey_kitchen", "seed": 1,
        "wakeword": {"phrases": ["hey kitchen"], "variants_per_phrase": 40, "confusables": 3,
                     "confusable_variants": 2, "other_words": 10, "engines": ["espeak-ng", "flite"],
                     "negatives": [{"path": str(negatives), "max_windows": 150}],
                     "mining": {"rounds": 1, "threshold": 0.05, "epochs": 1},
                     "calibration": {"allow_unresolved": True, "max_positives": 8, "snr_db": [20.0]}},
        "train": {"epochs": 12, "batch_size": 16, "early_stopping_patience": 0},
        "model": {"name": "ds_cnn_s", "params": {"streamable": True, "filters": 16, "blocks": 2}},
        "teacher": {"epochs": 8, "compare_scratch": False},
    }
    recipe = qrecipe.load(values)
    return recipe, pipeline.run(recipe, root / "run", verbose=0)


@pytest.mark.slow
def test_a_wakeword_run_makes_calibrated_streaming_artifacts(wakeword_run):
    from sdk.bundle import Bundle
    from sdk.detector import Detector

    recipe, run_dir = wakeword_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rounds = metrics["wakeword"]["mining"]["rounds"]
    assert len(rounds) == 1 and rounds[0]["files"] > 0
    for mode in ("int8", "streaming_int8", "embedding_int8"):
        bundle = Bundle.load(run_dir / f"model_{mode}.tflite")
        chosen = bundle.provenance["calibration"]
        assert chosen == metrics["wakeword"]["calibration"][mode]
        assert bundle.detection.threshold == chosen["detection"]["threshold"]
        assert set(bundle.detection.thresholds.values()) <= {chosen["detection"]["threshold"]}
        assert chosen["false_accepts"] == 0  # under 2 h of calibration audio: zero allowed
        assert chosen["positives"] > 0 and chosen["miss_rate"] < 1.0
        assert list(Detector(bundle).labels) == recipe.labels
    assert Bundle.load(run_dir / "model_streaming_int8.tflite").streaming
    teacher = Bundle.load(run_dir / "model_embedding_int8.tflite")  # the teacher's head, on the speech embedding
    assert teacher.frontend.kind == "speech_embedding" and teacher.frontend.clip_s == recipe.teacher.context_s
    assert metrics["artifacts"]["embedding_int8"]["test"]["accuracy"] > 0.5
    head_rounds = json.loads((run_dir / "teacher" / "metrics.json").read_text())["mining_rounds"]
    assert len(head_rounds) == 1 and head_rounds[0]["files"] == rounds[0]["files"]  # the head mined the same files


@pytest.mark.slow
def test_a_wakeword_window_artifact_exports_for_tflite_micro(wakeword_run, tmp_path):
    from firmware_bridge.export import export
    from sdk.bundle import Bundle

    _, run_dir = wakeword_run
    export(Bundle.load(run_dir / "model_int8.tflite"), tmp_path / "mcu")
    assert (tmp_path / "mcu" / "hey_kitchen_model.cc").is_file()
    with pytest.raises(ConfigError, match=r"model_streaming_int8\.tflite: a streaming model .*\(model_int8\.tflite\)"):
        export(Bundle.load(run_dir / "model_streaming_int8.tflite"), tmp_path / "mcu_streaming")
    with pytest.raises(ConfigError, match=r"model_embedding_int8\.tflite: its front end is speech_embedding .*"
                                          r"\(model_int8\.tflite\)"):
        export(Bundle.load(run_dir / "model_embedding_int8.tflite"), tmp_path / "mcu_embedding")
    assert "## Wake word" in (run_dir / "report.md").read_text()
    data = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert data["wakeword"]["phrases"] == ["hey kitchen"]


@pytest.mark.slow
def test_calibration_refuses_audio_too_short_for_the_target_naming_the_key(wakeword_run):
    from quantize.run import Run
    from quantize.wakeword import stages

    recipe, run_dir = wakeword_run
    calibration = recipe.wakeword.calibration.model_copy(update={"allow_unresolved": False})
    strict = recipe.wakeword.model_copy(update={"calibration": calibration})
    run_ = Run.open(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    clips = [c for c in _test_clips(recipe, run_dir)]
    with pytest.raises(ConfigError, match=r"wakeword\.calibration \(int8\): .* h of negative audio cannot resolve"):
        stages.calibrate_artifacts(recipe.model_copy(update={"wakeword": strict}), run_,
                                   {"int8": metrics["artifacts"]["int8"]}, clips)


def _test_clips(recipe, run_dir):
    from quantize.data.splits import list_clips

    return list_clips(recipe, run_dir)["test"]


def test_the_teacher_filters_labelled_windows_it_does_not_believe():
    from quantize.transfer.teach import trusted

    probabilities = np.array([[0.9, 0.1], [0.02, 0.98], [0.3, 0.7], [0.01, 0.99]], np.float32)
    y = np.array([0, 0, 1, -1])  # a good positive, a garbled one, a negative, an unlabelled window
    np.testing.assert_array_equal(trusted(probabilities, y, 0.05), [True, False, True, True])
    assert trusted(probabilities, y, 0.0).all()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["streaming_int8", "embedding_int8"])
def test_the_wyoming_service_serves_a_wakeword_artifact_unchanged(wakeword_run, mode):
    pytest.importorskip("wyoming")
    from test_wyoming import Server, read_until_quiet, run, send_stream
    from wyoming.info import Describe, Info

    from sdk.bundle import Bundle
    from sdk.wyoming_service import WakeService

    _, run_dir = wakeword_run
    bundle = Bundle.load(run_dir / f"model_{mode}.tflite")
    audio = (0.01 * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32)

    async def scenario():
        async with Server(WakeService([bundle])) as server:
            async with server.client() as client:
                await client.write_event(Describe().event())
                info = Info.from_event(await client.read_event())
                await send_stream(client, audio, rate=16000, names=["hey_kitchen"])
                return info, await read_until_quiet(client)

    info, events = run(scenario())
    assert [m.name for m in info.wake[0].models] == ["hey_kitchen"]
    assert events and not any(e.type == "error" for e in events)


def test_positives_are_heard_over_the_negatives_train_files_only(tmp_path):
    folder = _noise_folder(tmp_path / "neg", count=30, seconds=0.5)
    config = qrecipe.load(_recipe(tmp_path, [folder])).augment_config()
    train = background.files(folder, "train", held_back=0.2, held_out=0.3)
    assert sorted(config.noise_files) == sorted(str(f) for f in train) and config.noise_dirs == []
    given = qrecipe.load(_recipe(tmp_path, [folder]) | {"augment": {"noise_dirs": [str(folder)]}}).augment_config()
    assert given.noise_files == []  # the recipe's own noise wins


def test_sentences_are_everyday_words_without_the_phrase():
    from quantize.data.negatives import UNKNOWN_WORDS, sentences

    said = sentences(["hey kitchen"], count=200, seed=3)
    assert len(said) > 150 and said == sentences(["hey kitchen"], count=200, seed=3)
    for s in said:
        words = s.split()
        assert 2 <= len(words) <= 4 and "kitchen" not in words and "hey" not in words
        assert set(words) <= set(UNKNOWN_WORDS)

"""Recipes: every bad recipe is a clear ConfigError before any work; resolved form saved; no overwrite."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
import soundfile
import yaml

pytest.importorskip("tensorflow")

from quantize import pipeline  # noqa: E402
from quantize import recipe
from quantize.recipe_checks import validate  # noqa: E402
from quantize.run import prepare_dir  # noqa: E402
from sdk.errors import ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for label in ("low", "high"):
        (root / label).mkdir()
        for i in range(3):
            soundfile.write(root / label / f"s{i}_nohash_0.wav", rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    return root


def values(folders, **data):
    return {
        "name": "t",
        "data": {"keywords": ["low", "high"], "unknown": False, "sources": [{"kind": "folders", "path": str(folders)}],
                 **data},
        "model": {"name": "cnn_small"},
    }


def write(tmp_path, content) -> pathlib.Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def run_fails(recipe_path, tmp_path, match):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=match):
        pipeline.run(recipe_path, run_dir)
    assert not run_dir.exists()  # failed before any work


def test_unknown_key_names_file_and_key(folders, tmp_path):
    bad = values(folders)
    bad["train"] = {"epoch": 3}
    path = write(tmp_path, bad)
    run_fails(path, tmp_path, rf"{path}: invalid recipe: train\.epoch: unknown key")


def test_unknown_source_key_and_bad_kind(folders, tmp_path):
    bad = values(folders)
    bad["data"]["sources"][0]["lable_column"] = "x"
    run_fails(write(tmp_path, bad), tmp_path, r"data\.sources\.0\.lable_column: unknown key")
    bad = values(folders)
    bad["data"]["sources"][0]["kind"] = "youtube"
    run_fails(write(tmp_path, bad), tmp_path, r"data\.sources\.0\.kind: Input should be 'speech_commands'")


def test_missing_folder(tmp_path):
    bad = values(tmp_path / "nowhere")
    run_fails(write(tmp_path, bad), tmp_path, r"data\.sources\[0\] \(folders\): folder .*nowhere does not exist")


def test_relative_path_is_relative_to_recipe(folders, tmp_path):
    link = tmp_path / "mydata"
    link.symlink_to(folders)
    parsed = recipe.load(write(tmp_path, values("mydata")))
    assert parsed.resolve_path("mydata") == tmp_path / "mydata"
    validate(parsed)


def test_auricle_data_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("AURICLE_DATA", str(tmp_path))
    parsed = recipe.load(values("$AURICLE_DATA/x"))
    assert parsed.resolve_path("$AURICLE_DATA/x") == tmp_path / "x"
    assert parsed.resolve_path("${AURICLE_DATA}/x") == tmp_path / "x"


def test_label_with_no_audio(folders, tmp_path):
    bad = values(folders)
    bad["data"]["keywords"] = ["low", "high", "middle"]
    run_fails(write(tmp_path, bad), tmp_path, r"label\(s\) \['middle'\] have no training audio")


def test_folder_label_not_a_keyword_without_unknown(folders, tmp_path):
    bad = values(folders)
    bad["data"]["keywords"] = ["low"]
    run_fails(write(tmp_path, bad), tmp_path, r"label 'high' is not in data\.keywords \['low'\]")


def test_keyword_tts_cannot_speak(tmp_path):
    bad = {"data": {"keywords": ["7", "go"], "sources": [{"kind": "tts", "engines": ["espeak-ng"]}]}}
    run_fails(write(tmp_path, bad), tmp_path, r"the TTS cannot speak keyword '7'.*data\.say")
    good = {"data": {"keywords": ["7"], "say": {"7": "seven"}, "sources": [{"kind": "tts", "engines": ["espeak-ng"]}]}}
    validate(recipe.load(good))


def test_unknown_tts_engine(tmp_path):
    bad = {"data": {"keywords": ["go"], "sources": [{"kind": "tts", "engines": ["siri"]}]}}
    run_fails(write(tmp_path, bad), tmp_path, r"unknown engine\(s\) \['siri'\]")


def test_yaml_booleans_are_explained(folders, tmp_path):
    text = yaml.safe_dump(values(folders)).replace("- low\n  - high", "- yes\n  - no")
    assert "- yes" in text
    run_fails(write(tmp_path, text), tmp_path, "YAML reads unquoted yes/no/on/off as true/false; quote them")


def test_bad_model_and_params(folders, tmp_path):
    bad = values(folders)
    bad["model"] = {"name": "resnet9000"}
    run_fails(write(tmp_path, bad), tmp_path, "'resnet9000' is not a registered model")
    bad["model"] = {"name": "ds_cnn_s", "params": {"filter": 8}}
    run_fails(write(tmp_path, bad), tmp_path, r"model 'ds_cnn_s': unknown param\(s\) \['filter'\]")


def test_bad_frontend_and_split(folders, tmp_path):
    bad = values(folders)
    bad["frontend"] = {"fmax_hz": 9000.0}
    run_fails(write(tmp_path, bad), tmp_path, r"fmax_hz <= 8000")
    bad = values(folders, split={"train": 0.5, "test": 0.5})
    run_fails(write(tmp_path, bad), tmp_path, r"data\.split: split needs exactly train, val and test")


def test_missing_recipe_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such recipe file \(built-in recipes: .*default"):
        recipe.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        recipe.load(write(tmp_path, "data: [unclosed"))
    with pytest.raises(ConfigError, match=r"data: required key is missing"):
        recipe.load(write(tmp_path, "name: x\n"))


def test_builtin_recipes_parse():
    for name in ("default", "speech_commands", "fsdd"):
        parsed = recipe.load(name)
        assert parsed.source.endswith(f"{name}.yaml")
    assert recipe.load("default").labels[-2:] == ["_unknown_", "_silence_"]


def test_every_shipped_recipe_parses_and_the_hint_ablation_changes_only_the_hint():
    shipped = pathlib.Path(recipe.__file__).parent / "recipes"
    for path in sorted(shipped.rglob("*.yaml")):
        recipe.load(path)  # a typo in a shipped recipe is the first thing its user would meet
    base = recipe.load("speech_commands").resolved()
    ablation = recipe.load(shipped / "ablation" / "sc_hint.yaml").resolved()
    assert (base["teacher"]["hint_epochs"], ablation["teacher"]["hint_epochs"]) == (0, 20)
    for values in (base, ablation):
        del values["name"], values["teacher"]["hint_epochs"]
    assert ablation == base


def test_resolved_recipe_has_every_default(folders, tmp_path):
    parsed = recipe.load(write(tmp_path, values(folders)))
    out = tmp_path / "resolved.yaml"
    parsed.dump(out)
    saved = yaml.safe_load(out.read_text())
    assert saved["train"]["label_smoothing"] == recipe.Train().label_smoothing
    assert saved["frontend"]["n_mels"] == 40 and saved["frontend"]["sample_rate"] == 16000
    assert "spec_time_masks" in saved["augment"] and saved["detection"]["threshold"] == 0.8
    assert saved["export"]["modes"] == ["int8", "float16", "float32"]
    assert recipe.load(out).resolved() == parsed.resolved()


def test_refuses_existing_run_folder(folders, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="run folder already exists; .*--force"):
        pipeline.run(values(folders), run_dir)
    with pytest.raises(ConfigError, match="not an Auricle run folder .*not replacing it even with --force"):
        prepare_dir(run_dir, force=True)
    assert (run_dir / "notes.txt").read_text() == "mine"
    (run_dir / "recipe.yaml").write_text("name: old\n")
    assert not prepare_dir(run_dir, force=True).exists()  # an old run is replaced with --force


@pytest.mark.parametrize("detection, key", [
    ({"threshold": 1.5}, "detection.threshold"),
    ({"threshold": 0}, "detection.threshold"),
    ({"threshold": -0.2}, "detection.threshold"),
    ({"thresholds": {"low": 2.0}}, "detection.thresholds"),
    ({"hop_s": 0}, "detection.hop_s"),
])
def test_detection_outside_its_range_is_refused_when_read(folders, tmp_path, detection, key):
    """Artifacts and MCU headers copy the recipe's detection numbers; a threshold outside (0, 1] never fires
    (or always does), so the recipe is refused when read, naming the file and the key."""
    path = write(tmp_path, {**values(folders), "detection": detection})
    with pytest.raises(ConfigError, match=rf"{path}: invalid recipe: {key}: .*must (each )?be"):
        recipe.load(path)
    run_fails(path, tmp_path, key)


def test_detection_inside_its_range_is_kept(folders):
    parsed = recipe.load({**values(folders), "detection": {"threshold": 1.0, "thresholds": {"low": 0.35}}})
    assert parsed.detection_defaults().threshold == 1.0 and parsed.detection_defaults().thresholds == {"low": 0.35}

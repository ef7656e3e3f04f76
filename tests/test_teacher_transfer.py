"""The teacher on transfer tasks: music_open's split by track, the head's pooling, and distilling from arrays."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile

from conftest import synthesize, tone
from sdk.errors import ConfigError

RATE = 16000


def _music_folder(root):
    """Four 'tracks' of two clips and four one-file snippets, as music_open lays them out."""
    folder = root / "music_open"
    (folder / "music").mkdir(parents=True)
    rows = []
    names = [f"track{t}_-_song_{k}" for t in "ABCD" for k in (0, 1)] + [f"sms_snip-{s}" for s in "wxyz"]
    for i, name in enumerate(names):
        soundfile.write(folder / "music" / f"{name}.flac", tone(200 + 50 * i, 1.5), RATE)
        rows.append({"path": f"music/{name}.flac", "label": "music"})
    rows.append(rows[0])  # the real manifest repeats rows; a file still counts once
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_music_open_track_drops_only_a_clip_number():
    from quantize.data.tasks import music_open_track

    assert music_open_track("music/Kevin_MacLeod_-_Vibe_Ace_3.flac") == "Kevin_MacLeod_-_Vibe_Ace"
    assert music_open_track("music/sms_piano.flac") == "sms_piano"
    assert music_open_track("music/147793__setuniman__sweet-waltz-0i-22mi_0.flac") == "147793__setuniman__sweet-waltz-0i-22mi"


def test_music_open_split_never_puts_a_track_on_both_sides(tmp_path):
    from quantize.data.tasks import music_open_split

    root = _music_folder(tmp_path)
    splits = {}
    for seed in range(6):
        parts = music_open_split(root, seed=seed)
        tracks = {k: {c.speaker for c in v} for k, v in parts.items()}
        assert not tracks["train"] & tracks["test"]
        assert len(tracks["train"] | tracks["test"]) == 8
        for side in tracks.values():  # full tracks and snippets on both sides, half each
            assert sum(t.startswith("music_open:track") for t in side) == 2
            assert sum(t.startswith("music_open:sms_") for t in side) == 2
        files = [c.path for v in parts.values() for c in v]
        assert len(set(files)) == 12 and len(files) == 12  # 1.5-s files, one 1-s window each, none twice
        assert all(c.label == "music" and c.source == "music_open" for v in parts.values() for c in v)
        splits[seed] = frozenset(tracks["test"])
    assert len(set(splits.values())) > 1  # the seed draws the split


def test_embedding_head_pools_by_mean_or_max_and_names_a_bad_choice():
    from quantize.train import zoo

    x = np.random.default_rng(0).normal(size=(4, 20, 96)).astype(np.float32)
    outputs = {}
    for pooling in ("mean", "max"):
        model = zoo.build("embedding_head", (20, 96), 3, pooling=pooling)
        assert model.predict(x, verbose=0).shape == (4, 3)
        outputs[pooling] = model
    names = {type(layer).__name__ for layer in outputs["mean"].layers}
    assert "GlobalAveragePooling1D" in names and "GlobalMaxPooling1D" not in names
    with pytest.raises(ConfigError, match="pooling='sum'"):
        zoo.build("embedding_head", (20, 96), 3, pooling="sum")


def test_transfer_recipe_needs_two_labels():
    from quantize.transfer.teacher_tasks import transfer_recipe

    recipe = transfer_recipe(["a", "b"], teacher={"temperature": 3.0})
    assert recipe.labels == ["a", "b"] and recipe.teacher.temperature == 3.0
    with pytest.raises(ConfigError, match=r"labels=\['a'\]"):
        transfer_recipe(["a"])


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """'yes' and 'no' by eight espeak-ng voices (our own audio)."""
    pytest.importorskip("pyopen_wakeword", reason="the teacher needs the 'teacher' extra (pyopen-wakeword)")
    from quantize.data.clips import Clip

    root = tmp_path_factory.mktemp("spoken")
    clips = []
    for word in ("yes", "no"):
        for i, voice in enumerate(["en", "en-us", "en-gb-x-rp", "en+f3", "en+m3", "en-us+f2", "en+m7", "en-gb+f4"]):
            path = synthesize(word, root / f"{word}{i}.wav", voice=voice)
            clips.append(Clip(str(path), word, voice))
    return clips


def test_features_and_embeddings_are_row_for_row_and_cached(spoken, tmp_path):
    from quantize.transfer.teacher_tasks import features_and_embeddings
    from sdk.frontend import FrontEndConfig

    fe = FrontEndConfig()
    x, y, e = features_and_embeddings(spoken, fe, ["yes", "no"], copies=2, seed=1, cache_dir=tmp_path)
    assert x.shape == (32, fe.clip_frames, fe.num_features) and e.shape == (32, 6, 96)
    assert list(y[:2]) == [0, 0] and list(y[-2:]) == [1, 1]
    assert len(list(tmp_path.glob("*.npz"))) == 1
    x2, _, e2 = features_and_embeddings(spoken, fe, ["yes", "no"], copies=2, seed=1, cache_dir=tmp_path)
    np.testing.assert_array_equal(e, e2)
    np.testing.assert_array_equal(x, x2)
    _, _, whole = features_and_embeddings(spoken[:2], FrontEndConfig(clip_s=2.0), ["yes", "no"], context_s=None)
    assert whole.shape == (2, 16, 96)  # the whole 2-s window, no context added


def test_head_learns_the_words_and_the_student_learns_from_the_head_alone(spoken, tmp_path):
    from quantize.train.fit import Arrays
    from quantize.transfer.teacher_tasks import distil, features_and_embeddings, train_head, transfer_recipe
    from sdk.frontend import FrontEndConfig

    labels = ["yes", "no"]
    x, y, e = features_and_embeddings(spoken, FrontEndConfig(), labels, copies=2, seed=0)
    recipe = transfer_recipe(labels, model="cnn_small", params={"filters": [8, 8, 8]}, epochs=25, batch_size=8,
                             teacher={"epochs": 25, "alpha": 1.0, "temperature": 1.0},
                             train={"deterministic": False, "spec_augment": False, "early_stopping_patience": 0})
    head = train_head(recipe, e, y, e, y, tmp_path / "head")
    teacher_says = head.predict(e, verbose=0).argmax(1)
    assert np.mean(teacher_says == y) >= 0.9
    # no labels at all (y = -1), alpha = 1: whatever the student learns, it learns from the teacher
    unlabelled = Arrays(x, np.full(len(y), -1), x, y)
    student = distil(recipe, head, unlabelled, e, tmp_path / "student")
    assert np.mean(student.predict(x, verbose=0).argmax(1) == teacher_says) >= 0.8
    with pytest.raises(ConfigError, match="3 embedding rows for 32"):
        distil(recipe, head, unlabelled, e[:3], tmp_path / "bad")

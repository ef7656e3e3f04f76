"""quantize.data (clips, sources, balance, windows): loaders, speaker splits, silence/unknown/balance helpers, load_features."""
from __future__ import annotations

import logging
import pathlib

import numpy as np
import pytest
import soundfile
from conftest import synthesize, tone

from quantize.data.balance import cap_unknown, class_weights, oversample, silence_clips, split_by_speaker
from quantize.data.clips import Clip, label_counts
from quantize.data.labels import SILENCE, UNKNOWN
from quantize.data.sources import from_folders, from_manifest, from_speech_commands, official_split
from quantize.data.windows import load_clip_audio, load_features
from sdk.errors import AudioError, ConfigError
from sdk.frontend import FrontEndConfig, features

FRONTEND = FrontEndConfig()


def write(path: pathlib.Path, samples: np.ndarray, rate: int) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, rate)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> pathlib.Path:
    """Two labels; tones at 8 k, 16 k, 44.1 k (one stereo, one FLAC) and espeak-ng speech."""
    root = tmp_path_factory.mktemp("folders")
    for rate in (8000, 16000, 44100):
        write(root / "low" / f"tone_{rate}.wav", tone(500, 0.8, rate), rate)
        write(root / "high" / f"tone_{rate}.wav", tone(2000, 0.8, rate), rate)
    stereo = np.stack([tone(500, 0.8, 44100), tone(500, 0.8, 44100)], axis=1)
    write(root / "low" / "stereo.wav", stereo, 44100)
    write(root / "high" / "tone.flac", tone(2000, 1.5, 22050), 22050)
    (root / "high" / "notes.txt").write_text("not audio")
    (root / "speech").mkdir()
    write(root / "_background_noise_" / "hum.wav", tone(50, 3.0), 16000)  # not a label
    (root / "high" / "pcm.raw").write_bytes(b"\x00" * 64)  # headerless: not picked up
    synthesize("yes", root / "speech" / "abc123_nohash_0.wav")
    return root


def test_from_folders_reads_every_rate_and_format(folders):
    clips = from_folders(folders)
    assert label_counts(clips) == {"high": 4, "low": 4, "speech": 1}
    assert {c.speaker for c in clips if c.label == "speech"} == {"abc123"}
    result = load_features(clips, FRONTEND)
    x, y = result
    assert x.shape == (9, FRONTEND.clip_frames, FRONTEND.num_features) and x.dtype == np.float32
    assert result.labels == ["high", "low", "speech"]
    # Resampled correctly: each tone peaks in the same mel bin at every source rate.
    peak_bins = {c.path: int(np.argmax(row.mean(axis=0))) for c, row in zip(clips, x)}
    reference = features(tone(500, 1.0), config=FRONTEND).mean(axis=0).argmax()
    assert {peak_bins[c.path] for c in clips if c.label == "low"} == {reference}
    assert len({peak_bins[c.path] for c in clips if c.label == "high"}) == 1
    assert [p for p, _ in result.cropped] == [str(folders / "high" / "tone.flac")]


def test_from_folders_bad_layouts(tmp_path):
    with pytest.raises(ConfigError, match="does-not-exist.*does not exist"):
        from_folders(tmp_path / "does-not-exist")
    with pytest.raises(ConfigError, match="no label folders"):
        from_folders(tmp_path)
    write(tmp_path / "yes" / "a.wav", tone(440, 0.5), 16000)
    (tmp_path / "no").mkdir()
    (tmp_path / "no" / "readme.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"label 'no' has no audio files in .*no"):
        from_folders(tmp_path)


def test_corrupt_file_is_skipped_and_reported(tmp_path, caplog):
    for i in range(25):
        write(tmp_path / "tone" / f"{i}.wav", tone(300 + 10 * i, 0.5), 16000)
    bad = tmp_path / "tone" / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    clips = from_folders(tmp_path)
    done = []
    with caplog.at_level(logging.WARNING, logger="quantize.data.windows"):
        result = load_features(clips, FRONTEND, progress=done.append)
    assert done == [26]
    assert result.x.shape[0] == 25
    assert [p for p, _ in result.skipped] == [str(bad)]
    assert "broken.wav" in caplog.text and "skipped 1 of 26" in caplog.text
    assert result.summary()["skipped_files"][0]["path"] == str(bad)
    # When a large part of the data is unreadable, the data set is broken: fail.
    with pytest.raises(AudioError, match=r"1 of 2 files are unreadable.*broken.wav"):
        load_features([clips[0], Clip(str(bad), "tone")], FRONTEND)


def test_load_features_checks_labels_and_copies(folders):
    clips = from_folders(folders)
    with pytest.raises(ConfigError, match=r"label\(s\) \['speech'\] are not in labels"):
        load_features(clips, FRONTEND, labels=["high", "low"])
    with pytest.raises(ConfigError, match="copies=0"):
        load_features(clips, FRONTEND, copies=0)
    assert [c.label for c in clips[:2]] == ["high", "high"]  # label folders are read in sorted order
    result = load_features(clips[:2], FRONTEND, labels=["low", "high", "speech"], copies=3)
    assert result.y.tolist() == [1, 1, 1, 1, 1, 1]  # indices follow the given labels, not the folder order
    assert result.clip_index.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(result.x[0], result.x[2])  # no augmentation: identical copies


def speakers(clips):
    return {c.speaker or c.path for c in clips}


def test_split_by_speaker_is_disjoint_deterministic_and_stable():
    clips = [Clip(f"{s}_{i}.wav", "yes", f"spk{s}") for s in range(300) for i in range(3)]
    clips += [Clip(f"anon_{i}.wav", "no") for i in range(100)]
    split = split_by_speaker(clips, seed=3)
    names = list(split)
    assert names == ["train", "val", "test"]
    for a in names:
        for b in names:
            if a != b:
                assert not speakers(split[a]) & speakers(split[b])
    assert sum(len(v) for v in split.values()) == len(clips)
    assert split == split_by_speaker(clips, seed=3)
    shuffled = split_by_speaker(list(reversed(clips)), seed=3)
    assert all(set(split[n]) == set(shuffled[n]) for n in names)  # order of input does not matter
    assert 0.6 < len(speakers(split["train"])) / 400 < 0.8
    # Adding a speaker never moves anyone else.
    grown = split_by_speaker(clips + [Clip("new_0.wav", "yes", "newcomer")], seed=3)
    for n in names:
        assert set(split[n]) <= set(grown[n])
    assert split_by_speaker(clips, seed=4)["train"] != split["train"]


def test_split_by_speaker_rejects_bad_fractions():
    with pytest.raises(ConfigError, match="sum to 0.9"):
        split_by_speaker([], fractions={"train": 0.8, "val": 0.1})
    with pytest.raises(ConfigError, match="non-negative"):
        split_by_speaker([], fractions={"train": 1.2, "val": -0.2})


@pytest.fixture(scope="module")
def speech_commands(tmp_path_factory) -> pathlib.Path:
    """Speech Commands layout: words, _background_noise_, validation/testing lists."""
    root = tmp_path_factory.mktemp("sc")
    rng = np.random.default_rng(0)
    for word, freq in (("yes", 400), ("no", 600), ("marvin", 800), ("tree", 1000)):
        for s in range(4):
            write(root / word / f"{s:08x}_nohash_0.wav", tone(freq + s, 1.0), 16000)
    write(root / "_background_noise_" / "white.wav", 0.3 * rng.standard_normal(16000 * 5).astype(np.float32), 16000)
    write(root / "_background_noise_" / "pink.wav", 0.3 * rng.standard_normal(16000 * 3).astype(np.float32), 16000)
    (root / "validation_list.txt").write_text("yes/00000001_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/00000002_nohash_0.wav\nmarvin/00000002_nohash_0.wav\n")
    return root


def test_from_speech_commands_layout(speech_commands):
    clips = from_speech_commands(speech_commands, keywords=["yes", "no"], seed=1)
    counts = label_counts(clips)
    assert counts == {SILENCE: 4, UNKNOWN: 8, "no": 4, "yes": 4}
    assert {c.speaker for c in clips if c.label == "yes"} == {f"{s:08x}" for s in range(4)}
    silence = [c for c in clips if c.label == SILENCE]
    assert all(c.source == "noise" and c.path.endswith(("white.wav", "pink.wav")) for c in silence)
    assert all(c.start_s is not None and 0 <= c.start_s <= 4.0 for c in silence)
    x, y = load_features(clips, FRONTEND)
    assert x.shape[0] == 20
    split = official_split(speech_commands, clips)
    assert [pathlib.Path(c.path).name for c in split["val"]] == ["00000001_nohash_0.wav"]
    assert len(split["test"]) == 2 and len(split["train"]) == 17

    only = from_speech_commands(speech_commands, keywords=["yes"], include_unknown=False, include_silence=False)
    assert label_counts(only) == {"yes": 4}


def test_from_speech_commands_errors(speech_commands, tmp_path):
    with pytest.raises(ConfigError, match=r"keyword 'lumen' has no audio files in .*lumen"):
        from_speech_commands(speech_commands, keywords=["yes", "lumen"])
    with pytest.raises(ConfigError, match="does not exist"):
        from_speech_commands(tmp_path / "missing", keywords=["yes"])
    with pytest.raises(ConfigError, match="reserved"):
        from_speech_commands(speech_commands, keywords=["_unknown_"])
    write(tmp_path / "yes" / "a_nohash_0.wav", tone(400, 1.0), 16000)
    with pytest.raises(ConfigError, match="_background_noise_ has no noise files"):
        from_speech_commands(tmp_path, keywords=["yes"])


def test_from_manifest(tmp_path):
    for i in range(3):
        write(tmp_path / "audio" / f"{i}.wav", tone(300, 0.5, 8000), 8000)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,digit,who\naudio/0.wav,0,ann\naudio/1.wav,1,bob\naudio/2.wav,1,ann\n")
    clips = from_manifest(csv_path, label_column="digit", speaker_column="who")
    assert [(c.label, c.speaker) for c in clips] == [("0", "ann"), ("1", "bob"), ("1", "ann")]
    assert clips[0].path == str(tmp_path / "audio" / "0.wav")
    with pytest.raises(ConfigError, match=r"no column 'label' \(label_column\); columns: \['path', 'digit', 'who'\]"):
        from_manifest(csv_path)
    with pytest.raises(ConfigError, match="manifest .*nothere.csv does not exist"):
        from_manifest(tmp_path / "nothere.csv")
    (tmp_path / "bad.csv").write_text("path,label\naudio/9.wav,x\n")
    with pytest.raises(ConfigError, match=r"1 file\(s\) that do not exist.*9.wav"):
        from_manifest(tmp_path / "bad.csv")


def test_silence_clips_span_loud_to_near_digital_silence(tmp_path):
    noise = write(tmp_path / "noise.wav", 0.5 * np.random.default_rng(0).uniform(-1, 1, 16000 * 4).astype(np.float32), 16000)
    clips = silence_clips([noise], 200, seed=0, segment_s=1.2)
    assert silence_clips([noise], 200, seed=0, segment_s=1.2) == clips
    gains_db = 20 * np.log10([c.gain for c in clips])
    assert gains_db.min() == pytest.approx(-90) and gains_db.max() > -3
    assert 0.03 < np.mean(gains_db == -90) < 0.2
    # Crops stay inside 1.33 s segments named by the speaker: no two segments share audio.
    assert {c.speaker for c in clips} == {"noise#0", "noise#1", "noise#2"}
    for c in clips:
        segment = int(c.speaker.split("#")[1])
        assert segment * 4 / 3 <= c.start_s <= (segment + 1) * 4 / 3 - 1.0
    quiet = next(c for c in clips if c.gain < 1e-4)
    samples, _ = load_clip_audio(quiet, 16000, 16000)
    assert samples.shape == (16000,) and 0 < np.sqrt(np.mean(samples**2)) < 1e-4
    with pytest.raises(ConfigError, match="no noise files"):
        silence_clips([], 3)
    with pytest.raises(ConfigError, match="segment_s=0.5 must be at least clip_s=1.0"):
        silence_clips([noise], 3, segment_s=0.5)


def test_unknown_cap_oversample_and_weights():
    clips = [Clip(f"y{i}", "yes") for i in range(10)] + [Clip(f"n{i}", "no") for i in range(20)]
    clips += [Clip(f"u{i}", UNKNOWN) for i in range(200)]
    capped = cap_unknown(clips, max_ratio=2.0, seed=0)
    assert label_counts(capped) == {UNKNOWN: 30, "no": 20, "yes": 10}
    assert cap_unknown(clips, max_ratio=2.0, seed=0) == capped
    balanced = oversample(capped, seed=0)
    assert label_counts(balanced) == {UNKNOWN: 30, "no": 30, "yes": 30}
    weights = class_weights([0] * 10 + [1] * 30)
    assert weights[0] == pytest.approx(2.0) and weights[1] == pytest.approx(2 / 3)


def test_speech_commands_test_set(shared_data):
    keywords = "yes no up down left right on off stop go".split()
    clips = from_speech_commands(shared_data / "speech_commands_v2_test", keywords=keywords)
    counts = label_counts(clips)
    assert len(clips) == 1709 and len(counts) == 12
    assert counts[SILENCE] == 117 and counts[UNKNOWN] == 142 and counts["yes"] == 148
    assert all(c.speaker for c in clips)
    split = split_by_speaker(clips)
    assert not speakers(split["train"]) & speakers(split["test"])
    # A keyword the prepared set only has among its unknown words.
    backward = from_speech_commands(shared_data / "speech_commands_v2_test", keywords=["backward"], include_silence=False)
    assert 0 < label_counts(backward)["backward"] < 142


def test_prepared_layout_without_manifest(shared_data, tmp_path):
    """_silence_ and _unknown_ folders, unknown words named <word>_<speaker>_nohash_<n>."""
    source = shared_data / "speech_commands_v2_test"
    for folder, count in (("yes", 3), ("_unknown_", 40), ("_silence_", 2)):
        (tmp_path / folder).mkdir()
        for path in sorted((source / folder).iterdir())[:count]:
            (tmp_path / folder / path.name).symlink_to(path)
    clips = from_speech_commands(tmp_path, keywords=["yes", "backward"])
    assert label_counts(clips)["backward"] > 0 and label_counts(clips)[SILENCE] == 2
    backward = [c for c in clips if c.label == "backward"]
    assert all(len(c.speaker) == 8 and "backward" not in c.speaker for c in backward)


def test_fsdd_resamples_8k_to_16k(shared_data):
    clips = from_manifest(shared_data / "fsdd" / "labels.csv", label_column="digit", speaker_column="speaker")
    assert len(clips) == 2000 and {c.speaker for c in clips} == {"jackson", "nicolas", "theo", "yweweler"}
    info = soundfile.info(clips[0].path)
    assert info.samplerate == 8000
    samples, duration_s = load_clip_audio(clips[0], 16000, 16000)
    assert duration_s == pytest.approx(info.frames / 8000, abs=1e-3)
    x, y = load_features(clips[::40], FRONTEND)
    assert x.shape == (50, FRONTEND.clip_frames, FRONTEND.num_features) and sorted(set(y.tolist())) == list(range(10))


def test_split_does_not_depend_on_the_order_of_fraction_keys():
    clips = [Clip(f"s{i}.wav", "yes", speaker=f"speaker{i}") for i in range(200)]
    ordered = split_by_speaker(clips, fractions={"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    shuffled = split_by_speaker(clips, fractions={"val": 0.15, "test": 0.15, "train": 0.7}, seed=3)
    assert {k: [c.path for c in v] for k, v in ordered.items()} == {k: [c.path for c in v] for k, v in shuffled.items()}

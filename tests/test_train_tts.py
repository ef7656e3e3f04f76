"""quantize.data.tts: engine variants, on-disk cache, trimming, bad keywords, negatives."""
from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest

from quantize.data import tts
from quantize.data.balance import split_by_speaker
from sdk.audio import read_audio
from sdk.errors import ConfigError

pytestmark = pytest.mark.skipif(
    any(shutil.which(b) is None for b in ("espeak-ng", "flite", "festival")),
    reason="needs espeak-ng, flite and festival (apt-get install espeak-ng flite festival festvox-kallpc16k)",
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tts")


@pytest.fixture(scope="module")
def made(cache):
    return tts.synthesize(["yes", "hey lumen"], cache, variants_per_word=6, seed=1)


def test_variants_differ_by_engine_voice_and_sound(made):
    assert len(made) == 12 and all(c.source == "tts" for c in made)
    for word in ("yes", "hey lumen"):
        clips = [c for c in made if c.label == word]
        assert len({c.speaker for c in clips}) == 6
        assert {c.speaker.split(":")[0] for c in clips} == {"espeak-ng", "flite", "festival"}
    digests = {hashlib.sha1(read_audio(c.path).samples.tobytes()).hexdigest() for c in made}
    assert len(digests) == 12


def test_output_is_trimmed_and_fits(made):
    for clip in made:
        audio = read_audio(clip.path)
        loud = np.flatnonzero(np.abs(audio.samples) > 0.01 * np.max(np.abs(audio.samples)))
        lead_s, tail_s = loud[0] / audio.sample_rate, (len(audio.samples) - loud[-1]) / audio.sample_rate
        assert lead_s < 0.05 and tail_s < 0.15, (clip, lead_s, tail_s)
        assert 0.15 < audio.duration_s <= 1.0
        assert 0.2 * 0.9 < np.max(np.abs(audio.samples)) <= 0.91  # peak 0.9 minus gain of -12..0 dB
    assert made.too_long == []


def median_f0_hz(samples: np.ndarray, rate: int) -> float:
    """Median autocorrelation pitch of the loud 40 ms frames."""
    frame, values = int(0.04 * rate), []
    for start in range(0, len(samples) - frame, frame // 2):
        window = samples[start : start + frame]
        if np.sqrt(np.mean(window**2)) < 0.1 * np.max(np.abs(samples)):
            continue
        window = window - window.mean()
        ac = np.correlate(window, window, "full")[frame - 1 :]
        low, high = rate // 400, rate // 60
        values.append(rate / (low + np.argmax(ac[low:high])))
    return float(np.median(values))


@pytest.mark.parametrize(
    "engine, voice, pitches",
    [("espeak-ng", "en-us+m3", (20, 80)), ("flite", "kal16", (80, 150)),
     ("festival", "kal_diphone", (80, 150)), ("festival", "cmu_us_slt_arctic_hts", (150, 230))],
)
def test_pitch_and_speed_reach_every_engine(engine, voice, pitches, tmp_path):
    low, high = (tts.Variant(engine, voice, p, 160 if engine == "espeak-ng" else 1.0, 0.0) for p in pitches)
    slow = tts.Variant(engine, voice, pitches[0], 110 if engine == "espeak-ng" else 1.3, 0.0)
    made = tts._synthesize_all([("all of the way", v) for v in (low, high, slow)], tmp_path, workers=1)
    audio = [read_audio(path) for path, _ in made[:2]]
    f0 = [median_f0_hz(a.samples, a.sample_rate) for a in audio]
    assert f0[1] > 1.3 * f0[0], f0
    assert made[2][1] > 1.15 * made[0][1]  # duration_s


def test_trim_silence_keeps_the_sound_and_a_margin():
    rate = 16000
    sound = np.sin(np.arange(4000) * 0.3).astype(np.float32)
    padded = np.concatenate([np.zeros(8000), sound, 1e-5 * np.ones(12000)]).astype(np.float32)
    trimmed = tts.trim_silence(padded, rate, pad_s=0.02)
    assert 4000 <= trimmed.shape[0] <= 4000 + 2 * 320 + 2 * 160
    assert np.max(np.abs(trimmed)) == pytest.approx(np.max(np.abs(sound)))


def test_cache_hits_without_any_process(made, cache, monkeypatch):
    calls = []
    real_run = subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args[0])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(tts.subprocess, "run", counting_run)
    again = tts.synthesize(["yes", "hey lumen"], cache, variants_per_word=6, seed=1)
    assert list(again) == list(made) and calls == []
    # One more variant per word: only the two new clips are synthesized.
    more = tts.synthesize(["yes", "hey lumen"], cache, variants_per_word=7, seed=1)
    assert len(calls) == 2 and set(made) < set(more)


def test_voices_split_speaker_disjoint(made):
    split = split_by_speaker(made, fractions={"train": 0.5, "test": 0.5})
    assert not {c.speaker for c in split["train"]} & {c.speaker for c in split["test"]}


@pytest.mark.parametrize("word, message", [("", "is empty"), ("   ", "is empty"), ("42 %", "has no letters")])
def test_unspeakable_keywords_fail_first(word, message, cache, monkeypatch):
    monkeypatch.setattr(tts.subprocess, "run", lambda *a, **k: pytest.fail("ran an engine for a bad keyword"))
    with pytest.raises(ConfigError, match=message):
        tts.synthesize(["yes", word], cache, variants_per_word=2)


def test_missing_or_unknown_engine(cache, monkeypatch):
    with pytest.raises(ConfigError, match=r"engine 'mimic' is not one of"):
        tts.synthesize(["yes"], cache, variants_per_word=1, engines=("mimic",))
    monkeypatch.setattr(tts.shutil, "which", lambda name: None if name == "flite" else "/usr/bin/" + name)
    with pytest.raises(ConfigError, match=r"engine 'flite' is not installed .*apt-get install flite"):
        tts.synthesize(["yes"], cache, variants_per_word=1)


@pytest.mark.parametrize(
    "script, message",
    [
        ("import numpy, soundfile, sys; soundfile.write(sys.argv[1], numpy.zeros(8000), 16000)", "produced silence for 'nope'"),
        ("import sys; open(sys.argv[1], 'wb').close()", "could not say 'nope'"),
        ("import sys; sys.exit('voice not found')", "could not say 'nope': voice not found"),
    ],
)
def test_engine_that_says_nothing(script, message, tmp_path, monkeypatch):
    monkeypatch.setattr(tts, "_command", lambda variant, out: [sys.executable, "-c", script, out])
    with pytest.raises(ConfigError, match=r"tts: espeak-ng \(voice .*\) " + message):
        tts.synthesize(["nope"], tmp_path, variants_per_word=1, engines=("espeak-ng",))


def test_word_longer_than_the_window_is_reported(tmp_path, caplog):
    text = "this sentence certainly lasts much longer than one second"
    with caplog.at_level(logging.WARNING, logger="quantize.data.tts"):
        result = tts.synthesize([text], tmp_path, variants_per_word=1, engines=("espeak-ng",))
    assert len(result.too_long) == 1 and result.too_long[0][1] > 1.5
    assert "longer than the 1.00 s window" in caplog.text


def test_near_misses_are_close_but_not_the_keyword():
    misses = tts.near_misses("hey lumen")
    assert len(misses) == 20 and len(set(misses)) == 20
    assert "hey lumen" not in misses and misses[:2] == ["hey", "lumen"]
    assert "hey lemon" in misses[:5] and "hey human" in misses
    assert "two" not in tts.near_misses("too") and "to" not in tts.near_misses("too")  # homophones are positives
    with pytest.raises(ConfigError, match="no letters"):
        tts.near_misses("123")


def test_near_misses_leave_out_the_phrase_said_with_other_reduced_vowels():
    misses = set(tts.near_misses("computer", count=24))
    assert not misses & {"cumputer", "komputer", "camputer", "computir", "computair", "computayr"}
    assert {"compiter", "compowter", "domputer", "compooter"} <= misses  # stressed vowel, onset, /j/ dropped
    assert {"snowbee", "snowboo"} <= set(tts.near_misses("snowboy", count=24))  # "boy" is a full vowel


@pytest.mark.parametrize("other, weak", [
    (("k", "V", "m", "p", "j", "u:", "t#", "3"), True),  # reduced vowel changed
    (("k", "m", "p", "j", "u:", "t#", "3"), True),  # dropped
    (("k", "@", "m", "p", "j", "u:", "t#", "eI", "3"), True),  # grown into two vowels
    (("k", "@", "m", "p", "j", "I", "t#", "3"), False),  # the stressed vowel
    (("d", "@", "m", "p", "j", "u:", "t#", "3"), False),  # a consonant
    (("k", "@", "s", "m", "p", "j", "u:", "t#", "3"), False),  # a consonant next to a reduced vowel
    (("k", "@", "m", "p", "j", "u:", "t#", "3"), True),  # the same
])
def test_weak_variant_by_hand(other, weak):
    from quantize.data.negatives import _weak_variant

    assert _weak_variant(("k", "@", "m", "p", "j", "u:", "t#", "3"), other) is weak


def test_unknown_words_exclude_keywords():
    words = tts.unknown_words(["yes", "hey lumen"])
    assert "yes" not in words and "hey" not in words and "hey siri" not in words and "no" in words
    assert len(tts.unknown_words(["yes"], count=10, seed=0)) == 10
    assert len(set(tts.UNKNOWN_WORDS)) == len(tts.UNKNOWN_WORDS) > 100


def test_festival_batch_survives_quotes_and_names_bad_voice(tmp_path, monkeypatch):
    made = tts.synthesize(['say "hi" \\ now'], tmp_path, variants_per_word=1, engines=("festival",))
    assert read_audio(made[0].path).duration_s > 0.3
    monkeypatch.setattr(tts, "voices", lambda engine: ("no_such_voice",))
    with pytest.raises(ConfigError, match=r"festival \(voice no_such_voice\) could not say 'hello': .*unbound variable"):
        tts.synthesize(["hello"], tmp_path, variants_per_word=1, engines=("festival",))

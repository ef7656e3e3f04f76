"""Detector end to end on streams made from espeak speech, with a model trained here.

The model (tests/stream_model.py) is trained on six espeak voices; the streams
speak "yes" with a seventh voice it has not heard.
"""
import io
import json
import tracemalloc

import numpy as np
import pytest

import stream_model
from sdk.audio import resample
from sdk.detector import Detector
from sdk.errors import AudioError, ConfigError
from sdk.sinks import JsonLinesSink
from sdk.sources import ArraySource, blocks_of

RATE = 16000



def keyword_stream(duration_s=8.0, at_s=3.0, word="yes", voice=stream_model.HELD_OUT_VOICE, seed=5, noise_db=-45):
    """Noise with one spoken word starting at ``at_s``; returns (samples, word_end_s)."""
    rng = np.random.default_rng(seed)
    samples = stream_model.noise(rng, int(duration_s * RATE), noise_db)
    clip = stream_model.speak(word, voice=voice, speed_wpm=170) * 0.5
    start = int(at_s * RATE)
    samples[start : start + clip.shape[0]] += clip
    return samples, (start + clip.shape[0]) / RATE


def summary(events):
    return [(e.label, round(e.start_s, 4), round(e.end_s, 4)) for e in events]


def test_detects_keyword_at_the_right_time(yes_bundle):
    samples, word_end_s = keyword_stream()
    events = list(Detector(yes_bundle).listen(ArraySource(blocks_of(samples, 320), sample_rate=RATE)))
    assert [e.label for e in events] == ["yes"]
    assert abs(events[0].time_s - word_end_s) <= 0.5
    assert events[0].model == "yes-tiny"
    assert events[0].score >= 0.6


@pytest.mark.parametrize("seed, noise_db", [(11, -40), (12, -30)])
def test_no_detection_in_noise_only(yes_bundle, seed, noise_db):
    rng = np.random.default_rng(seed)
    samples = stream_model.noise(rng, 30 * RATE, noise_db)
    detector = Detector(yes_bundle)
    assert detector.feed(samples) + detector.flush() == []
    assert detector.stats.inferences == 1 + (detector.frontend.frames_emitted - 49) // detector.hop_frames


def test_other_words_are_not_yes(yes_bundle):
    rng = np.random.default_rng(3)
    samples = stream_model.noise(rng, 12 * RATE, -45)
    for i, word in enumerate(("no", "stop", "house", "seven")):
        clip = stream_model.speak(word, voice=stream_model.HELD_OUT_VOICE) * 0.5
        start = (1 + 2 * i) * RATE
        samples[start : start + clip.shape[0]] += clip
    assert Detector(yes_bundle).feed(samples) == []


def test_odd_block_sizes_give_the_events_of_one_block(yes_bundle):
    samples, _ = keyword_stream(duration_s=10.0, at_s=2.0)
    samples[6 * RATE : 6 * RATE + 8000] += keyword_stream(1.0, 0.2, seed=6)[0][:8000]
    whole = Detector(yes_bundle)
    expected = whole.feed(samples)
    rng = np.random.default_rng(0)
    cuts = np.cumsum(rng.integers(1, 2000, size=400))
    cuts = cuts[cuts < samples.shape[0]]
    pieces = Detector(yes_bundle)
    got = [e for piece in np.split(samples, cuts) for e in pieces.feed(piece)]
    assert len(expected) >= 1
    assert summary(got) == summary(expected)
    np.testing.assert_allclose([e.score for e in got], [e.score for e in expected], atol=0.02)
    assert pieces.stats.inferences == whole.stats.inferences


def test_48_khz_input_is_resampled(yes_bundle):
    samples, word_end_s = keyword_stream()
    high = resample(samples, RATE, 48000)
    detector = Detector(yes_bundle)
    events = list(detector.listen(ArraySource(blocks_of(high, 960), sample_rate=48000)))
    assert [e.label for e in events] == ["yes"]
    assert abs(events[0].time_s - word_end_s) <= 0.5
    assert detector.stats.audio_s == pytest.approx(8.0)


def test_int16_stereo_blocks(yes_bundle):
    samples, word_end_s = keyword_stream()
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    events = list(Detector(yes_bundle).listen(ArraySource(blocks_of(stereo, 441), sample_rate=RATE)))
    assert [e.label for e in events] == ["yes"]


@pytest.mark.parametrize("vad", ["energy", "webrtc"])
def test_voice_gate_skips_silence_and_still_detects(yes_bundle, vad):
    if vad == "webrtc":
        pytest.importorskip("webrtcvad")
    rng = np.random.default_rng(1)
    samples = (rng.normal(size=12 * RATE) * 1e-5).astype(np.float32)  # about -100 dBFS
    clip = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=170) * 0.5
    samples[8 * RATE : 8 * RATE + clip.shape[0]] += clip
    detector = Detector(yes_bundle, vad=vad)
    events = detector.feed(samples)
    assert [e.label for e in events] == ["yes"]
    total = 1 + (detector.frontend.frames_emitted - 49) // detector.hop_frames
    assert detector.stats.skipped + detector.stats.inferences == total
    # 8 s of silence before the word: the windows that end before 8 s (about 70) are skipped.
    assert detector.stats.skipped >= 60
    assert detector.stats.inferences >= 10


def test_silence_only_stream_runs_no_inference(yes_bundle):
    detector = Detector(yes_bundle, vad="energy")
    assert detector.feed(np.zeros(5 * RATE, np.float32)) == []
    assert detector.stats.inferences == 0 and detector.stats.skipped > 40
    assert detector.scores()["yes"] == 0.0


def test_overrides_and_scores(yes_bundle):
    samples, _ = keyword_stream()
    strict = Detector(yes_bundle, thresholds={"yes": 1.0})
    assert strict.feed(samples) == []
    assert strict.thresholds == {"yes": 1.0}
    assert set(strict.scores()) == {"yes", "_unknown_", "_silence_"}
    coarse = Detector(yes_bundle, hop_s=0.065)  # whole frames of 20 ms: 3 frames = 60 ms
    assert coarse.hop_frames == 3 and coarse.hop_s == pytest.approx(0.06)


def test_run_callback_json_sink_and_reset(yes_bundle):
    samples, _ = keyword_stream()
    out = io.StringIO()
    detector = Detector(yes_bundle)
    stats = detector.run(ArraySource(blocks_of(samples, 1600), sample_rate=RATE), JsonLinesSink(out))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["label"] for line in lines] == ["yes"]
    assert {"label", "score", "start_s", "end_s", "time_s", "model"} <= set(lines[0])
    assert stats.detections == 1 and stats.to_dict()["hop_latency_ms"]["hops"] == stats.inferences
    detector.reset()
    assert detector.stats.audio_s == 0 and detector.sample_rate is None
    assert [e.label for e in detector.feed(samples)] == ["yes"]  # same events after reset


def test_memory_stays_bounded(yes_bundle):
    rng = np.random.default_rng(2)
    block = stream_model.noise(rng, RATE * 10, -40)
    detector = Detector(yes_bundle)
    for _ in range(3):
        detector.feed(block)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(30):  # five more minutes
        detector.feed(block)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 200_000, f"memory grew by {grown} bytes over 5 minutes of audio"


@pytest.mark.parametrize(
    "block, match",
    [
        (np.zeros(320, np.complex64), "dtype complex64 is not integer or float"),
        (np.array(["a", "b"]), "is not integer or float"),
        (np.zeros((2, 2, 2), np.float32), r"shape \(2, 2, 2\) is not"),
        (np.array([0.0, np.nan], np.float32), "NaN or infinite"),
        ([0.0, 0.1], "is a list, not a numpy array"),
    ],
)
def test_bad_blocks(yes_bundle, block, match):
    with pytest.raises(AudioError, match=match):
        Detector(yes_bundle).feed(block)


def test_bad_settings(yes_bundle):
    with pytest.raises(ConfigError, match=r"names \['maybe'\], which are not foreground labels"):
        Detector(yes_bundle, thresholds={"maybe": 0.5})
    with pytest.raises(ConfigError, match=r"names \['_silence_'\]"):
        Detector(yes_bundle, thresholds={"_silence_": 0.5})
    with pytest.raises(ConfigError, match="threshold for 'threshold' is 0"):
        Detector(yes_bundle, threshold=0)
    with pytest.raises(ConfigError, match="hop_s=-1"):
        Detector(yes_bundle, hop_s=-1)
    with pytest.raises(ConfigError, match="vad='loud'"):
        Detector(yes_bundle, vad="loud")
    detector = Detector(yes_bundle)
    detector.feed(np.zeros(100, np.float32), 48000)
    with pytest.raises(ConfigError, match="sample_rate changed from 48000 to 16000"):
        detector.feed(np.zeros(100, np.float32), 16000)
    with pytest.raises(ConfigError, match="sample_rate=0"):
        Detector(yes_bundle).feed(np.zeros(100, np.float32), 0)
    with pytest.raises(ConfigError, match="no sample_rate attribute"):
        list(Detector(yes_bundle).listen([np.zeros(100, np.float32)]))

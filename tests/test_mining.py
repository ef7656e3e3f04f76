"""Hard-negative mining: the windows where a model fires on audio without its keyword."""
import numpy as np
import pytest
import soundfile

from quantize.data.mining import mine
from sdk.errors import AudioError, ConfigError

RATE = 16000


@pytest.fixture
def talk(tmp_path):
    """Twelve seconds of noise with the keyword said at 3 s and at 8 s (what the model will wrongly fire on)."""
    import stream_model

    rng = np.random.default_rng(4)
    audio = stream_model.noise(rng, 12 * RATE, -35)
    for at in (3, 8):
        said = stream_model.speak("yes", voice=stream_model.HELD_OUT_VOICE, speed_wpm=160)
        audio[at * RATE: at * RATE + said.shape[0]] += said
    path = tmp_path / "talk.wav"
    soundfile.write(path, audio, RATE)
    quiet = tmp_path / "quiet.wav"
    soundfile.write(quiet, stream_model.noise(rng, 5 * RATE, -35), RATE)
    return path, quiet


def test_mines_the_windows_it_fires_on_loudest_first(yes_bundle, talk, tmp_path):
    path, quiet = talk
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    clips = mine(yes_bundle, [path, quiet, broken], threshold=0.5)
    assert len(clips) == 2  # one per spoken word; nothing in the quiet file; the broken one skipped
    for clip in clips:
        assert clip.label == "_unknown_" and clip.source == "mined" and clip.path == str(path)
    starts = sorted(c.start_s for c in clips)
    # The 1-s window that ended at each event: it begins before the word, and the event came after the word began.
    assert 2.0 < starts[0] <= 3.0 and 7.0 < starts[1] <= 8.0, starts
    assert mine(yes_bundle, [path], threshold=0.5, max_clips=1) == clips[:1]


def test_bad_threshold_and_nothing_readable_are_named(yes_bundle, tmp_path):
    with pytest.raises(ConfigError, match=r"threshold=1\.5"):
        mine(yes_bundle, [], threshold=1.5)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"")
    with pytest.raises(AudioError, match="broken.wav"):
        mine(yes_bundle, [broken], threshold=0.5)

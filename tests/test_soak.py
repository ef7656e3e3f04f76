"""benchmarks/soak.py's bookkeeping: how events of the MQTT run are held against the one-shot run."""
from __future__ import annotations

import numpy as np

from benchmarks import soak

A, B, C = ("yes", 0.9, 1.0, 2.0), ("yes", 0.8, 7.0, 8.0), ("yes", 0.95, 12.0, 13.0)


def test_identical_runs_compare_clean():
    assert soak.compare([A, B, C], [A, B, C], [A, B, C]) == {
        "events_one_shot": 3, "events_sent": 3, "sent_identical_to_one_shot": True, "events_received_unique": 3,
        "events_lost": 0, "events_differing": 0, "received_in_order": True}


def test_lost_differing_and_reordered_events_are_counted():
    changed = ("yes", 0.81, 7.0, 8.0)  # a score that is not the one-shot run's
    result = soak.compare([A, B, C], [A, changed, C], [C, A, changed])
    assert result["sent_identical_to_one_shot"] is False
    assert (result["events_lost"], result["events_differing"], result["received_in_order"]) == (1, 1, False)


def test_the_audio_is_the_same_for_the_same_seed_and_minute(shared_data, monkeypatch):
    monkeypatch.setenv("AURICLE_DATA", str(shared_data))
    first, again, other = soak.AudioMaker(16000, 0), soak.AudioMaker(16000, 0), soak.AudioMaker(16000, 1)
    assert first.real
    minute = first.minute(3)
    assert minute.shape == (60 * 16000,) and np.abs(minute).max() <= 1
    np.testing.assert_array_equal(minute, again.minute(3))
    assert not np.array_equal(minute, other.minute(3)) and not np.array_equal(minute, first.minute(4))

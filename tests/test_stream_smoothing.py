"""The smoother alone, on posterior sequences small enough to check by hand."""
import numpy as np
import pytest

from sdk.errors import ConfigError
from sdk.smoothing import Smoother, event_indices, moving_mean

LABELS = ("yes", "no", "_silence_")


def run(smoother, rows, hop_s=0.1):
    fired = []
    for i, row in enumerate(rows):
        for label, score in smoother.push(np.array(row), round(i * hop_s, 6)):
            fired.append((i, label, round(score, 6)))
    return fired


def test_no_smoothing_min_count_one_fires_on_first_hop_above():
    s = Smoother(LABELS, thresholds={"yes": 0.5, "no": 0.5}, background=("_silence_",))
    assert run(s, [[0.4, 0, 0.6], [0.6, 0, 0.4], [0.1, 0, 0.9]]) == [(1, "yes", 0.6)]


def test_moving_mean_by_hand():
    # window 3: means are 0.9, (0.9+0.9)/2, (0.9+0.9+0)/3 = 0.6, (0.9+0+0)/3 = 0.3
    s = Smoother(LABELS, thresholds={"yes": 0.55, "no": 0.9}, window=3, background=("_silence_",))
    fired = run(s, [[0.9, 0, 0.1], [0.9, 0, 0.1], [0.0, 0, 1.0], [0.0, 0, 1.0]])
    assert fired == [(0, "yes", 0.9), (1, "yes", 0.9), (2, "yes", 0.6)]  # refractory 0: every hop above
    s = Smoother(LABELS, thresholds={"yes": 0.55, "no": 0.9}, window=3, min_count=3, background=("_silence_",))
    assert run(s, [[0.9, 0, 0.1], [0.9, 0, 0.1], [0.0, 0, 1.0], [0.0, 0, 1.0]]) == [(2, "yes", 0.6)]
    assert s.smoothed[0] == pytest.approx(0.3)
    expected = np.array([0.9, 0.9, 0.6, 0.3])
    got = moving_mean(np.array([[0.9], [0.9], [0.0], [0.0]]), 3)[:, 0]
    np.testing.assert_allclose(got, expected)


def test_refractory_spaces_events_of_one_label():
    # yes stays at 1.0 for 3 s at 10 hops/s; min_count 2 -> first event at hop 1 (0.1 s),
    # then one per refractory second: 1.1 s, 2.1 s.
    s = Smoother(LABELS, thresholds={"yes": 0.5, "no": 0.5}, min_count=2, refractory_s=1.0, background=("_silence_",))
    fired = run(s, [[1.0, 0, 0]] * 30)
    assert [(i, label) for i, label, _ in fired] == [(1, "yes"), (11, "yes"), (21, "yes")]


def test_min_count_needs_consecutive_hops():
    s = Smoother(LABELS, thresholds={"yes": 0.5, "no": 0.5}, min_count=2, background=("_silence_",))
    assert run(s, [[0.9, 0, 0], [0.1, 0, 0], [0.9, 0, 0], [0.1, 0, 0]]) == []
    assert run(s, [[0.9, 0, 0], [0.9, 0, 0]]) == [(1, "yes", 0.9)]


def test_labels_are_independent_and_background_never_fires():
    s = Smoother(LABELS, thresholds={"yes": 0.5, "no": 0.3}, background=("_silence_",))
    fired = run(s, [[0.6, 0.35, 0.05], [0.0, 0.0, 1.0]])
    assert fired == [(0, "yes", 0.6), (0, "no", 0.35)]


def test_per_label_threshold():
    s = Smoother(LABELS, thresholds={"yes": 0.95, "no": 0.5}, background=("_silence_",))
    assert run(s, [[0.9, 0.1, 0.0]]) == []


def test_online_and_offline_rules_agree(rng):
    posteriors = rng.dirichlet([0.3, 0.3, 0.3], size=2000)
    times = np.round(np.arange(2000) * 0.1, 6)
    smoothed = moving_mean(posteriors, 3)
    for threshold in (0.3, 0.5, 0.7):
        for min_count, refractory_s in ((1, 0.0), (2, 1.0), (3, 0.35)):
            s = Smoother(LABELS, thresholds={"yes": threshold, "no": threshold}, window=3, min_count=min_count,
                         refractory_s=refractory_s, background=("_silence_",))
            online = {"yes": [], "no": []}
            for i, (row, t) in enumerate(zip(posteriors, times)):
                for label, _ in s.push(row, t):
                    online[label].append(i)
            for k, label in enumerate(("yes", "no")):
                offline = event_indices(times, smoothed[:, k], threshold=threshold, min_count=min_count,
                                        refractory_s=refractory_s)
                assert offline.tolist() == online[label]
                assert len(online[label]) > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"thresholds": {"yes": 0.5}}, r"no threshold for label\(s\) \['no'\]"),
        ({"thresholds": {"yes": 1.5, "no": 0.5}}, r"threshold for 'yes' is 1.5"),
        ({"thresholds": {"yes": 0.5, "no": 0.5}, "window": 0}, r"window=0"),
        ({"thresholds": {"yes": 0.5, "no": 0.5}, "min_count": 0}, r"min_count=0"),
        ({"thresholds": {"yes": 0.5, "no": 0.5}, "background": ("_noise_",)}, r"\['_noise_'\] are not among"),
    ],
)
def test_bad_settings(kwargs, match):
    kwargs.setdefault("background", ("_silence_",))
    with pytest.raises(ConfigError, match=match):
        Smoother(LABELS, **kwargs)


def test_wrong_posterior_length():
    s = Smoother(LABELS, thresholds={"yes": 0.5, "no": 0.5}, background=("_silence_",))
    with pytest.raises(ConfigError, match="posterior has 2 scores, expected 3"):
        s.push(np.array([0.5, 0.5]), 0.0)

"""Classification metrics worked by hand."""
import pytest

from quantize.export.report import classification_metrics, prediction_metrics


def test_metrics_by_hand():
    # truth a a a b b c ; predicted a a b b c c  -> a: P 1, R 2/3; b: P 1/2, R 1/2; c: P 1/2, R 1
    m = prediction_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 * 1 / 1.5]
    assert m["macro_f1"] == pytest.approx(sum(f1) / 3)
    assert m["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": f1[2], "support": 1})
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_absent_class_is_left_out_of_the_averages():
    m = prediction_metrics([0, 0, 1], [0, 2, 1], ["a", "b", "c"])  # "c" has no examples, is predicted once
    assert m["uar"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["per_class"]["c"]["precision"] == 0.0


def test_scores_are_reduced_by_arg_max():
    assert classification_metrics([1, 0], [[0.2, 0.8], [0.9, 0.1]], ["a", "b"])["accuracy"] == 1.0

"""UAR / WAR / confusion matrix against scikit-learn and hand-computed cases (docs/spec.md 4.3)."""

import warnings

import numpy as np
import pytest
import torch

from peclip.metrics import classification_result, confusion_matrix, per_class_recall, uar, war

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(8))
def test_uar_war_equal_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(2, 12))
    n = int(rng.integers(1, 300))
    targets = rng.integers(0, num_classes, n)
    preds = np.where(rng.random(n) < 0.4, targets, rng.integers(0, num_classes, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when a predicted class is absent from the targets
        expected_uar = sklearn_metrics.balanced_accuracy_score(targets, preds)
    assert uar(targets, preds, num_classes) == pytest.approx(expected_uar, abs=1e-12)
    assert war(targets, preds) == pytest.approx(sklearn_metrics.accuracy_score(targets, preds), abs=1e-12)
    expected_cm = sklearn_metrics.confusion_matrix(targets, preds, labels=list(range(num_classes)))
    np.testing.assert_array_equal(confusion_matrix(targets, preds, num_classes), expected_cm)
    result = classification_result(torch.as_tensor(targets), torch.as_tensor(preds), num_classes)
    assert result.uar == pytest.approx(100 * expected_uar)
    assert result.num_samples == n


def test_uar_skips_classes_absent_from_targets():
    targets = [0, 0, 1, 1, 1]
    preds = [0, 2, 1, 1, 1]  # class 2 is predicted but never true; class 3 never appears
    recall = per_class_recall(targets, preds, num_classes=4)
    np.testing.assert_allclose(recall[:2], [0.5, 1.0])
    assert np.isnan(recall[2]) and np.isnan(recall[3])
    assert uar(targets, preds, 4) == pytest.approx(0.75)
    assert war(targets, preds) == pytest.approx(0.8)


def test_uar_differs_from_war_on_imbalanced_data():
    targets = [0] * 9 + [1]
    preds = [0] * 10  # always the majority class
    assert war(targets, preds) == pytest.approx(0.9)
    assert uar(targets, preds) == pytest.approx(0.5)


def test_metrics_reject_bad_input_with_a_reason():
    with pytest.raises(ValueError, match="same length"):
        uar([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        war([], [])
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="integer"):
        uar([0.5, 1.0], [0, 1])

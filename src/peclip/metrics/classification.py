"""Classification metrics of the DFER benchmarks: UAR, WAR, per-class recall, confusion matrix (docs/spec.md 4.3).

Pure functions over integer label arrays (NumPy arrays, lists or tensors). Fractions are in [0, 1]
(as scikit-learn returns them); :class:`ClassificationResult` carries the same numbers in percent,
as papers report them.

- **WAR** (weighted average recall) is plain accuracy: correct clips / all clips.
- **UAR** (unweighted average recall) is the mean of the per-class recalls over the classes
  **present in the targets**. A class with no target clip has no recall (``nan`` in
  :func:`per_class_recall`) and is left out of the mean, as scikit-learn's ``balanced_accuracy_score``
  does; the official code would return ``nan`` for the whole UAR in that case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _labels(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds a negative class index ({array.min()}); labels are 0..C-1")
    return array.astype(np.int64)


def _pair(targets, preds) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(targets, "targets"), _labels(preds, "preds")
    if t.shape != p.shape:
        raise ValueError(f"targets ({t.size}) and preds ({p.size}) must have the same length")
    if t.size == 0:
        raise ValueError("no predictions to score: targets and preds are empty")
    return t, p


def confusion_matrix(targets, preds, num_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` counts; row = true class, column = predicted class (scikit-learn's layout)."""
    t, p = _pair(targets, preds)
    seen = int(max(t.max(), p.max())) + 1
    if num_classes is None:
        num_classes = seen
    elif seen > num_classes:
        raise ValueError(f"a label {seen - 1} is outside 0..{num_classes - 1} (num_classes={num_classes})")
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)  # (C_true, C_pred)


def per_class_recall(targets, preds, num_classes: int | None = None) -> np.ndarray:
    """Recall of each class (``C[i, i] / sum_j C[i, j]``); ``nan`` where the class has no target clip."""
    cm = confusion_matrix(targets, preds, num_classes)
    support = cm.sum(axis=1)
    recall = np.full(cm.shape[0], np.nan)
    present = support > 0
    recall[present] = np.diag(cm)[present] / support[present]
    return recall


def uar(targets, preds, num_classes: int | None = None) -> float:
    """Unweighted average recall in [0, 1]: the mean recall over the classes present in ``targets``."""
    recall = per_class_recall(targets, preds, num_classes)
    return float(np.nanmean(recall))


def war(targets, preds) -> float:
    """Weighted average recall in [0, 1], i.e. accuracy."""
    t, p = _pair(targets, preds)
    return float((t == p).mean())


@dataclass
class ClassificationResult:
    """UAR and WAR in percent, with the per-class recall (percent, ``nan`` if absent) and the confusion matrix."""

    uar: float
    war: float
    per_class_recall: list[float]
    support: list[int]
    confusion: np.ndarray  # (C, C), rows = true class
    num_samples: int

    def summary(self) -> dict:
        """The headline numbers, JSON-ready."""
        return {"uar": self.uar, "war": self.war, "num_samples": self.num_samples}


def classification_result(targets, preds, num_classes: int | None = None) -> ClassificationResult:
    """Everything the benchmarks report for one set of predictions (docs/spec.md 4.3)."""
    cm = confusion_matrix(targets, preds, num_classes)
    support = cm.sum(axis=1)
    recall = per_class_recall(targets, preds, cm.shape[0])
    return ClassificationResult(
        uar=100.0 * float(np.nanmean(recall)),
        war=100.0 * float(np.trace(cm) / cm.sum()),
        per_class_recall=[100.0 * float(r) for r in recall],
        support=[int(s) for s in support],
        confusion=cm,
        num_samples=int(cm.sum()),
    )

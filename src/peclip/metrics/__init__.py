"""Metrics: classification (UAR, WAR) and image similarity (CSIM)."""

from peclip.metrics.classification import classification_result, confusion_matrix, per_class_recall, uar, war  # noqa: F401
from peclip.metrics.copula import CSIMResult, CSIMTensors, copula_transform, csim, csim_torch  # noqa: F401

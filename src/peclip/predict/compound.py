"""Compound-expression scores from basic-emotion probabilities (C-EXPR-DB's 7 compound classes).

Sum rule: the score of a compound ``A + B`` is ``p(A) + p(B)``, the sum of the probabilities of its
two basic parts (pairs in :data:`peclip.labels.COMPOUND_EXPRESSIONS`). The scores are not a
distribution (they do not sum to 1); the highest one names the most likely compound.
"""

from __future__ import annotations

import numpy as np

from peclip.labels import COMPOUND_EXPRESSIONS


def compound_names() -> list[str]:
    """The compound classes in their fixed order."""
    return list(COMPOUND_EXPRESSIONS)


def check_compound_support(class_names: list[str]) -> None:
    """Raise ValueError when a basic class that a compound needs is missing from ``class_names``."""
    needed = sorted({part for pair in COMPOUND_EXPRESSIONS.values() for part in pair})
    missing = [c for c in needed if c not in class_names]
    if missing:
        raise ValueError(f"compound scores need the basic classes {', '.join(needed)}; the model's classes "
                         f"({', '.join(class_names)}) lack {', '.join(missing)}. Use a basic7 or mafw11 model "
                         "or leave compound scores off")


def compound_scores(probabilities: np.ndarray, class_names: list[str]) -> np.ndarray:
    """``(N, C)`` basic probabilities -> ``(N, 7)`` compound scores by the sum rule (NaN rows stay NaN)."""
    check_compound_support(class_names)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(f"expected probabilities of shape (N, {len(class_names)}), got {probabilities.shape}")
    index = {c: i for i, c in enumerate(class_names)}
    columns = [probabilities[:, index[a]] + probabilities[:, index[b]] for a, b in COMPOUND_EXPRESSIONS.values()]
    return np.stack(columns, axis=1) if columns else np.zeros((len(probabilities), 0))  # (N, 7)

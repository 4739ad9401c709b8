"""Timeline records and the whole-video summary, from per-window arrays.

A timeline is one record per window and person (``window``, ``start``, ``end``, ``face``, ``track``, ``frames``,
``face_frames``, ``top``, ``top_probability``, ``p_<class>`` for every class and, when asked for,
``compound_<name>``). Windows without a face carry ``None`` (NaN in arrays and DataFrames, empty in
CSV) for every probability and score, and ``top`` is ``None``: no row claims an emotion it did not see.
A window where several people (face tracks) are seen has one row per person, all with the same
``window`` number; a window without a face has one row with ``face`` false and no ``track``.

The summary weighs each face window by the time it speaks for (:func:`peclip.predict.windows.own_spans`:
overlapping windows split the overlap at the midpoint between their centres), so a share is a share
of face time; the overall figures pool every person's rows (with two people in view, a second of video
counts as two seconds of face time), the ``tracks`` entries give each person's own. A still image (zero
duration) weighs its single window by count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from peclip.predict.windows import own_spans


def window_numbers(starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """The window each row belongs to: rows of one window (one per person) share its ``(start, end)``."""
    keys = list(zip(np.asarray(starts).tolist(), np.asarray(ends).tolist(), strict=True))
    order = {key: n for n, key in enumerate(dict.fromkeys(keys))}
    return [order[key] for key in keys]


def row_weights(starts: np.ndarray, ends: np.ndarray, duration: float) -> np.ndarray:
    """Seconds each row speaks for: the :func:`~peclip.predict.windows.own_spans` share of its window."""
    keys = list(zip(np.asarray(starts).tolist(), np.asarray(ends).tolist(), strict=True))
    windows = list(dict.fromkeys(keys))
    spans = dict(zip(windows, own_spans(windows, duration), strict=True))
    return np.array([spans[k][1] - spans[k][0] for k in keys], dtype=np.float64)  # (rows,)


def _opt(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def timeline_records(starts: np.ndarray, ends: np.ndarray, face: np.ndarray, tracks: Sequence[int | None],
                     frames: np.ndarray, face_frames: np.ndarray, probabilities: np.ndarray,
                     class_names: Sequence[str], compound: np.ndarray | None = None,
                     compound_names: Sequence[str] = ()) -> list[dict]:
    """One flat record per window and person (module docstring)."""
    records = []
    numbers = window_numbers(starts, ends)
    for i in range(len(starts)):
        has_face = bool(face[i])
        probs = probabilities[i]
        top = int(np.argmax(probs)) if has_face else None
        record = {
            "window": numbers[i],
            "start": float(starts[i]),
            "end": float(ends[i]),
            "face": has_face,
            "track": tracks[i] if has_face else None,
            "frames": int(frames[i]),
            "face_frames": int(face_frames[i]),
            "top": class_names[top] if top is not None else None,
            "top_probability": float(probs[top]) if top is not None else None,
        }
        for c, name in enumerate(class_names):
            record[f"p_{name}"] = _opt(float(probs[c])) if has_face else None
        if compound is not None:
            for k, name in enumerate(compound_names):
                record[f"compound_{name}"] = _opt(float(compound[i, k])) if has_face else None
        records.append(record)
    return records


def _shares(weights: np.ndarray, top: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    total = float(weights.sum())
    if total <= 0:  # a still image: every window weighs the same
        weights, total = np.ones_like(weights), float(len(weights))
    return {name: float(weights[top == c].sum() / total) for c, name in enumerate(class_names)}


def _group_summary(mask: np.ndarray, weights: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str],
                   compound: np.ndarray | None, compound_names: Sequence[str]) -> dict:
    if not mask.any():
        return {"windows": 0, "seconds": 0.0, "dominant": None, "dominant_share": None, "class_shares": {},
                "mean_probabilities": {}}
    probs = probabilities[mask]  # (F, C)
    top = probs.argmax(axis=1)  # (F,)
    shares = _shares(weights[mask], top, class_names)
    dominant = max(class_names, key=lambda c: (shares[c], -class_names.index(c)))
    out = {
        "windows": int(mask.sum()),
        "seconds": float(weights[mask].sum()),
        "dominant": dominant,
        "dominant_share": shares[dominant],
        "class_shares": shares,
        "mean_probabilities": {name: float(probs[:, c].mean()) for c, name in enumerate(class_names)},
    }
    if compound is not None and len(compound_names):
        mean = compound[mask].mean(axis=0)  # (K,)
        out["compound_mean_scores"] = {name: float(mean[k]) for k, name in enumerate(compound_names)}
        out["compound_dominant"] = compound_names[int(mean.argmax())]
    return out


def summarize(starts: np.ndarray, ends: np.ndarray, face: np.ndarray, tracks: Sequence[int | None],
              probabilities: np.ndarray, class_names: Sequence[str], duration: float,
              compound: np.ndarray | None = None, compound_names: Sequence[str] = ()) -> dict:
    """The whole-video summary: dominant emotion and its share of the face time, overall and per face track."""
    class_names = list(class_names)
    compound_names = list(compound_names)
    face = np.asarray(face, dtype=bool)
    weights = row_weights(starts, ends, duration)  # (rows,) seconds each row speaks for
    overall = _group_summary(face, weights, probabilities, class_names, compound, compound_names)
    track_ids = sorted({t for t, f in zip(tracks, face, strict=True) if f and t is not None})
    per_track = []
    for track in track_ids:
        mask = face & np.array([t == track for t in tracks], dtype=bool)
        entry = {"track": track, "start": float(starts[mask].min()), "end": float(ends[mask].max())}
        entry.update(_group_summary(mask, weights, probabilities, class_names, compound, compound_names))
        per_track.append(entry)
    return {
        "duration": float(duration),
        "windows": len(set(window_numbers(starts, ends))),
        "face_windows": overall.pop("windows"),
        "face_seconds": overall.pop("seconds"),
        **overall,
        "tracks": per_track,
    }

"""Which detection belongs to which face track: overlap and motion first, appearance where they are ambiguous.

:func:`match` pairs the tracks (their boxes predicted for this frame) with this frame's detections.

- **Gate**: a pair is possible when the detection overlaps the predicted box (its affinity is the IoU)
  or lies within half a face side of its centre (a small affinity, falling with the distance). With
  appearance, a detection farther away, up to ``FAR_REACH`` face sides (plus ``REACH_GROWTH`` per frame
  the track was missed, at most ``MAX_REACH``), is possible too when it looks like the track
  (similarity at least ``min_similarity``): a face that reversed between two detections is far from
  where its motion predicted it, and one held through misses may have moved while unseen.
- **Unambiguous** (without appearance, everything): best affinity first, greedily.
- **Ambiguous** with appearance: tracks and detections linked by possible pairs, or tracks whose
  predicted boxes overlap each other, form a group; a group with two or more tracks or two or more
  detections (faces crossing, a face next to another, a face coming back after a miss) is matched as a
  whole by the assignment that maximises the summed ``similarity + geometry_weight * affinity``
  (:func:`peclip.faces.appearance.similarity`), so a face that reverses direction while it overlaps
  another keeps its id although its motion predicts the other's place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from peclip.faces.appearance import similarity
from peclip.faces.box import Box

#: with appearance, a detection this many face sides from the predicted centre may still be the track's ...
FAR_REACH = 1.0
#: ... plus this many face sides per frame the track was missed ...
REACH_GROWTH = 0.05
#: ... up to this many face sides
MAX_REACH = 1.5
#: an ambiguous group larger than this many tracks is matched greedily (the exact search grows fast)
MAX_EXACT = 7


@dataclass(frozen=True)
class Match:
    """The outcome for one frame: ``pairs`` track index -> detection index, ``fresh`` the detections of
    no track, ``clean`` the matched tracks whose pair was unambiguous and whose detection overlaps no
    other (their appearance may be learned from it)."""

    pairs: dict[int, int]
    fresh: list[int]
    clean: set[int]


def affinity(predicted: Box, detection: Box, reach: float = 0.5) -> float:
    """The IoU when the boxes overlap; else, within ``reach`` face sides of the predicted centre, a small
    positive value falling with the distance; else -1 (no pair)."""
    iou = predicted.iou(detection)
    if iou > 0:
        return iou
    side = max(predicted.width, predicted.height, 1e-6)
    dist = math.dist(predicted.center, detection.center)
    return -1.0 if dist >= reach * side else 0.05 * (1 - dist / (reach * side))


def reach_after(missed: int) -> float:
    """How far (in face sides) a track missed for ``missed`` frames may find a face that looks like it."""
    return min(MAX_REACH, FAR_REACH + REACH_GROWTH * missed)


def _groups(num_tracks: int, num_detections: int, links: list[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """Connected groups of tracks (nodes 0..T-1) and detections (T..T+D-1) under ``links``."""
    parent = list(range(num_tracks + num_detections))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in links:
        parent[root(a)] = root(b)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for node in range(num_tracks + num_detections):
        tracks, detections = groups.setdefault(root(node), ([], []))
        (tracks if node < num_tracks else detections).append(node if node < num_tracks else node - num_tracks)
    return list(groups.values())


def _best_assignment(tracks: list[int], score: dict[tuple[int, int], float]) -> dict[int, int]:
    """The pairs (over ``score``'s keys) with the largest total score, each track and detection used once."""
    options = {t: sorted((d for tt, d in score if tt == t), key=lambda d: -score[(t, d)]) for t in tracks}
    if len(tracks) > MAX_EXACT:
        chosen: dict[int, int] = {}
        for (t, d), _ in sorted(score.items(), key=lambda item: -item[1]):
            if t not in chosen and d not in chosen.values():
                chosen[t] = d
        return chosen
    best: tuple[float, dict[int, int]] = (-1.0, {})

    def search(i: int, used: frozenset, total: float, chosen: dict[int, int]) -> None:
        nonlocal best
        if i == len(tracks):
            if total > best[0]:
                best = (total, dict(chosen))
            return
        t = tracks[i]
        for d in options[t]:
            if d not in used:
                chosen[t] = d
                search(i + 1, used | {d}, total + score[(t, d)], chosen)
                del chosen[t]
        search(i + 1, used, total, chosen)  # this track unmatched

    search(0, frozenset(), 0.0, {})
    return best[1]


def match(predicted: Sequence[Box], detections: Sequence[Box], missed: Sequence[int] | None = None,
          track_looks: Sequence[np.ndarray | None] | None = None,
          detection_looks: Sequence[np.ndarray | None] | None = None,
          geometry_weight: float = 0.2, min_similarity: float = 0.8) -> Match:
    """Pair tracks (their ``predicted`` boxes; ``missed`` frames since each was last detected) with
    ``detections``; with ``track_looks`` and ``detection_looks`` (appearance descriptors) ambiguous groups
    are decided by appearance (module docstring), without them every pair greedily by affinity."""
    use_looks = track_looks is not None and detection_looks is not None
    missed = list(missed) if missed is not None else [0] * len(predicted)
    pairs: dict[tuple[int, int], float] = {}
    for t, box in enumerate(predicted):
        reach = reach_after(missed[t]) if use_looks else 0.5
        for d, det in enumerate(detections):
            a = affinity(box, det, reach)
            far = a > 0 and affinity(box, det) <= 0  # only within the far reach
            if a > 0 and not (far and similarity(track_looks[t], detection_looks[d]) < min_similarity):
                pairs[(t, d)] = a
    if not use_looks:
        chosen: dict[int, int] = {}
        for (t, d), _ in sorted(pairs.items(), key=lambda item: -item[1]):
            if t not in chosen and d not in chosen.values():
                chosen[t] = d
        return Match(chosen, [d for d in range(len(detections)) if d not in chosen.values()], set())
    num_t = len(predicted)
    links = [(t, num_t + d) for t, d in pairs]
    links += [(s, t) for s in range(num_t) for t in range(s + 1, num_t) if predicted[s].iou(predicted[t]) > 0]
    chosen, clean = {}, set()
    for tracks, dets in _groups(num_t, len(detections), links):
        group = {(t, d): a for (t, d), a in pairs.items() if t in tracks}
        if not group:
            continue
        if len(tracks) == 1 and len(dets) == 1:
            (t, d), = group
            chosen[t] = d
            if not any(detections[d].iou(other) > 0 for e, other in enumerate(detections) if e != d):
                clean.add(t)
            continue
        score = {(t, d): similarity(track_looks[t], detection_looks[d]) + geometry_weight * a
                 for (t, d), a in group.items()}
        chosen.update(_best_assignment(tracks, score))
    return Match(chosen, [d for d in range(len(detections)) if d not in chosen.values()], clean)

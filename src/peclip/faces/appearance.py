"""A cheap appearance cue for the face tracker: a colour histogram of the face box.

:func:`appearance` shrinks the central ``SHRINK`` of a face box to ``PATCH x PATCH`` px (area
averaging), converts it to HSV and counts its pixels in ``BINS`` (hue x saturation x value) bins;
the result is the square root of the normalised histogram, a unit vector, so the dot product of two
of them (:func:`similarity`) is their Bhattacharyya coefficient: 1 for the same colours, 0 for
disjoint ones. It costs one small resize, one colour conversion and one ``calcHist`` per detection.

Measured with RetinaFace boxes on ../shared/data (docs/faces.md): the same person against its first
frame scores 0.98-1.0 (every 8th frame of WolfgangLanger, over 19.7 s of crying, hand over mouth and
smiling; every 3rd of the man of single_face.mp4), two different people 0.40-0.55 (the woman against
the man; two of the posed stills on a synthetic background). A face partly hidden by another takes
on the other's colours, which is why the tracker learns a track's appearance only from detections that
overlap no other (:class:`peclip.faces.tracking.FaceTracks`).
"""

from __future__ import annotations

import cv2
import numpy as np

from peclip.faces.box import Box

#: hue x saturation x value bins (OpenCV's hue is 0-179)
BINS = (8, 4, 4)
#: the side of the patch the histogram counts, px
PATCH = 32
#: the central fraction of the face box (its edges hold background and hair)
SHRINK = 0.8


def appearance(frame: np.ndarray, face: Box) -> np.ndarray | None:
    """The colour descriptor ``(128,)`` float32 of ``face`` in ``frame`` (RGB uint8 ``(H, W, 3)``), unit
    length; None when the box lies outside the frame."""
    cx, cy = face.center
    half_w, half_h = face.width * SHRINK / 2, face.height * SHRINK / 2
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x1, y1 = min(width, int(np.ceil(cx + half_w))), min(height, int(np.ceil(cy + half_h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    patch = cv2.resize(frame[y0:y1, x0:x1], (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
    counts = cv2.calcHist([hsv], [0, 1, 2], None, list(BINS), [0, 180, 0, 256, 0, 256]).ravel()  # (128,)
    return np.sqrt(counts / counts.sum()).astype(np.float32)


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """The Bhattacharyya coefficient of two :func:`appearance` descriptors, in [0, 1]; 0.5 (no opinion)
    when either is missing."""
    if a is None or b is None:
        return 0.5
    return float(np.clip(a @ b, 0.0, 1.0))


def blend(old: np.ndarray | None, new: np.ndarray | None, weight: float) -> np.ndarray | None:
    """``old`` moved towards ``new`` by ``weight`` (renormalised to unit length)."""
    if old is None or new is None:
        return new if old is None else old
    mixed = (1 - weight) * old + weight * new
    return (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)

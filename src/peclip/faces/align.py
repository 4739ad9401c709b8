"""Aligned face crops: a similarity transform of the 5 landmarks onto a canonical template.

The template is the five-point one of ArcFace (Deng et al. 2019, insightface ``arcface_dst`` at 112 px)
made exactly symmetric (eyes level, the nose and the mouth centre on the vertical midline), and zoomed
out about the crop centre by ``1.25 / (1 + 2 * margin)`` so that ``--margin`` widens aligned crops as it
widens square ones (at the default 0.25 the eyes are 26 % of the crop apart, at 47 % of its height).

:func:`align_face` warps the frame (bilinear, black outside the frame) by the similarity that puts the
two eye centres exactly on the template's: eyes level, a fixed eye distance and position
(docs/faces.md). The least-squares fit of all five points (:func:`similarity`, Umeyama 1991, as
ArcFace does) was measured against it on the four test stills: it leaves the eyes
0.5-10 px (at 224 px) from the template, because real faces differ from the template's nose and mouth
(10 px on the 45-degree head turn), while the eye fit leaves only the landmark detector's own noise.
The price: a face turned sideways shows its eyes closer together, so it is enlarged (by about
1 / cos(yaw)). ``method="least_squares"`` gives the five-point fit. The benchmark datasets' frames
are aligned faces (DFEW ships affine-aligned crops), so aligned crops are the default
(``FaceOptions.align``); ``--no-align`` gives square box crops.
"""

from __future__ import annotations

import cv2
import numpy as np

from peclip.faces.box import Box
from peclip.faces.crop import crop_face

#: ArcFace's 112 px template, made symmetric about x = 56 (eyes, nose, mouth corners), in px of 112
_ARCFACE_SYMMETRIC = np.array([[38.3814, 51.5988], [73.6186, 51.5988], [56.0, 71.7366],
                               [41.4097, 92.2848], [70.5903, 92.2848]], dtype=np.float64)
TEMPLATE_UNIT = _ARCFACE_SYMMETRIC / 112.0  # (5, 2) fractions of the crop side


def template_points(size: int, margin: float = 0.25) -> np.ndarray:
    """The template's 5 points ``(5, 2)`` in px of a ``size x size`` crop for face margin ``margin``."""
    zoom = 1.25 / (1.0 + 2.0 * margin)
    return (0.5 + (TEMPLATE_UNIT - 0.5) * zoom) * size


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` similarity matrix mapping points ``src`` ``(N, 2)`` onto ``dst`` in least squares."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)  # (2, 2)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1  # no reflection
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / max(float((s ** 2).sum() / len(src)), 1e-12)
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def eye_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` similarity mapping the two eyes of ``src`` (rows 0 and 1) exactly onto those of ``dst``."""
    (a, b), (c, d) = np.asarray(src, np.float64)[:2], np.asarray(dst, np.float64)[:2]
    u, v = complex(*(b - a)), complex(*(d - c))
    z = v / u if abs(u) > 1e-9 else 1.0  # rotation and scale as one complex number
    shift = complex(*c) - z * complex(*a)
    return np.array([[z.real, -z.imag, shift.real], [z.imag, z.real, shift.imag]])


ALIGN_METHODS = ("eyes", "least_squares")


def align_matrix(landmarks, size: int, margin: float = 0.25, method: str = "eyes") -> np.ndarray:
    """The ``(2, 3)`` matrix that takes frame px to the aligned ``size x size`` crop."""
    points, target = np.asarray(landmarks, np.float64).reshape(5, 2), template_points(size, margin)
    if method not in ALIGN_METHODS:
        raise ValueError(f"method={method!r} is not valid; choose one of: {', '.join(ALIGN_METHODS)}")
    return eye_similarity(points, target) if method == "eyes" else similarity(points, target)


def align_face(frame: np.ndarray, landmarks, size: int, margin: float = 0.25, method: str = "eyes") -> np.ndarray:
    """The face with ``landmarks`` (5 ``(x, y)`` px) warped onto the template: ``(size, size, 3)`` uint8."""
    matrix = align_matrix(landmarks, size, margin, method)
    return cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def face_crop(frame: np.ndarray, face: Box | None, box: Box, size: int, align: bool, margin: float) -> np.ndarray:
    """The crop of one face: aligned when ``align`` and ``face`` has landmarks, else the square ``box``."""
    if align and face is not None and face.landmarks is not None:
        return align_face(frame, face.landmarks, size, margin)
    return crop_face(frame, box, size)

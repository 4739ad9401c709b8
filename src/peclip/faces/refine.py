"""A second landmark pass for tilted faces: detect again on the face turned upright, map the landmarks back.

A CNN detector's landmarks are noisier on a face rolled in the image plane than on an upright one
(RetinaFace was trained mostly on upright faces). :func:`refine_landmarks` estimates the roll from the
first landmarks' eyes; when it is at least ``min_roll`` degrees it warps the face upright onto the
alignment template (:func:`peclip.faces.align.align_matrix`, ``REFINE_SIZE`` px, margin 0.25), runs the
detector on that crop, takes the face nearest its centre and maps its landmarks back into the frame.
The box stays the first pass's.

It costs one detector run on a ``REFINE_SIZE`` crop per tilted face and detection (about half a
640x360 frame's at the default ``--detect-size 240``), nothing for faces tilted less than ``min_roll``.
Measured on the four stills of ../shared/data rotated in-plane by both signs (docs/faces.md): against
the upright still's own landmarks rotated the same way, the mean eye error at 224 px fell from 3.6 /
4.7 / 4.9 / 8.3 px to 2.5 / 2.7 / 2.8 / 3.4 px at 15 / 20 / 30 / 45 degrees, and the crops of the
stills rotated 30 degrees put every eye within 3 px of the template (7.4 px without). Applied to every
face, it made faces tilted 5 degrees slightly worse (2.1 -> 2.5 px), hence ``REFINE_MIN_ROLL``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from peclip.faces.align import align_matrix
from peclip.faces.box import Box

#: the side of the upright crop the second pass detects on, px
REFINE_SIZE = 224
#: faces rolled less than this many degrees keep their first landmarks
REFINE_MIN_ROLL = 10.0


def roll_degrees(landmarks) -> float:
    """The in-plane angle of the line from the image-left eye to the other, in degrees (0: level)."""
    (x0, y0), (x1, y1) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def refine_landmarks(frame: np.ndarray, face: Box, detector, min_roll: float = REFINE_MIN_ROLL) -> Box:
    """``face`` with landmarks from a second detection on the face turned upright when its roll is at
    least ``min_roll`` degrees (module docstring); ``face`` itself otherwise, or when the second pass
    finds no face with landmarks near the crop's centre."""
    if face.landmarks is None or abs(roll_degrees(face.landmarks)) < min_roll:
        return face
    matrix = align_matrix(face.landmarks, REFINE_SIZE)  # frame px -> upright crop px
    crop = cv2.warpAffine(frame, matrix, (REFINE_SIZE, REFINE_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    centre = (REFINE_SIZE / 2, REFINE_SIZE / 2)
    found = [f for f in detector.detect(crop) if f.landmarks is not None
             and math.dist(f.center, centre) < REFINE_SIZE / 4]
    if not found:
        return face
    again = min(found, key=lambda f: math.dist(f.center, centre))
    inverse = cv2.invertAffineTransform(matrix)  # (2, 3): upright crop px -> frame px
    points = np.asarray(again.landmarks, np.float64) @ inverse[:, :2].T + inverse[:, 2]  # (5, 2)
    return Box(face.x0, face.y0, face.x1, face.y1, face.score, tuple((float(x), float(y)) for x, y in points))

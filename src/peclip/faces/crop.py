"""Square face crops: cut a box out of a frame (black outside the frame) and resize it."""

from __future__ import annotations

import cv2
import numpy as np

from peclip.faces.box import Box


def crop_face(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The square region ``box`` of ``frame`` (black where it leaves the frame), resized to ``size x size``.

    Area interpolation when shrinking, bilinear when enlarging. Returns ``(size, size, 3)`` uint8.
    """
    height, width = frame.shape[:2]
    side = max(1, int(round(max(box.width, box.height))))
    x0 = int(round(box.center[0] - side / 2))
    y0 = int(round(box.center[1] - side / 2))
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(width, x0 + side), min(height, y0 + side)
    if sx0 == x0 and sy0 == y0 and sx1 == x0 + side and sy1 == y0 + side:
        patch = frame[sy0:sy1, sx0:sx1]
    else:
        patch = np.zeros((side, side, frame.shape[2]), dtype=frame.dtype)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interpolation)

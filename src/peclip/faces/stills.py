"""Every face of a still image as a square crop: the seam where a multi-face detector plugs in.

:func:`faces_in_image` maps one RGB image to a list of :class:`FaceCrop` (its detection, the square
crop box with the margin ``prepare`` uses, and the crop at the model's input size), left to right.
Any :class:`~peclip.faces.detectors.FaceDetector` that returns several boxes per frame gives several
faces (OpenCV's Haar cascade does); overlapping detections of one face are merged first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peclip.faces.align import face_crop
from peclip.faces.box import Box
from peclip.faces.detectors import FaceDetector, create_detector
from peclip.faces.options import FaceOptions
from peclip.faces.refine import refine_landmarks


@dataclass(frozen=True)
class FaceCrop:
    """One face of an image: ``face`` the detection, ``box`` the square crop box (margin included, may
    reach past the image, where the crop is black), ``crop`` ``(S, S, 3)`` uint8."""

    face: Box
    box: Box
    crop: np.ndarray


def merge_overlapping(faces: list[Box], iou: float = 0.3) -> list[Box]:
    """Keep the best-supported box of each group of boxes overlapping by more than ``iou`` (greedy NMS)."""
    kept: list[Box] = []
    for box in sorted(faces, key=lambda b: (b.score, b.area), reverse=True):
        if all(box.iou(other) <= iou for other in kept):
            kept.append(box)
    return kept


def crop_box(face: Box, margin: float) -> Box:
    """The square crop box of a detection: its centre, ``1 + 2 * margin`` times its longer side (as the
    tracker's crop box, so a still's crop matches a video's)."""
    cx, cy = face.center
    return Box.square(cx, cy, max(face.width, face.height) * (1 + 2 * margin), face.score)


def faces_in_image(image: np.ndarray, size: int, detector: FaceDetector | None = None,
                   options: FaceOptions | None = None) -> list[FaceCrop]:
    """All faces of ``image`` (``(H, W, 3)`` RGB uint8), left to right, cropped to ``size x size``.

    ``detector`` defaults to the one ``options.detector`` names (:class:`~peclip.faces.options.FaceOptions`,
    the settings of ``prepare`` and ``predict``); faces with landmarks are aligned when ``options.align``.
    """
    options = options or FaceOptions()
    detector = detector or create_detector(options=options)
    faces = sorted(merge_overlapping(list(detector.detect(image))), key=lambda b: (b.x0, b.y0))
    if options.min_face_size:
        faces = [f for f in faces if max(f.width, f.height) >= options.min_face_size]
    if options.max_faces:
        faces = sorted(sorted(faces, key=lambda b: -b.area)[:options.max_faces], key=lambda b: (b.x0, b.y0))
    if options.refine_tilted:
        faces = [refine_landmarks(image, face, detector) for face in faces]
    crops = []
    for face in faces:
        box = crop_box(face, options.margin)
        crops.append(FaceCrop(face, box, face_crop(image, face, box, size, options.align, options.margin)))
    return crops


def whole_image(image: np.ndarray, size: int) -> FaceCrop:
    """The whole image as the one face (already cropped faces: ``--no-face-detection``)."""
    import cv2

    height, width = image.shape[:2]
    box = Box(0.0, 0.0, float(width), float(height))
    interpolation = cv2.INTER_AREA if min(height, width) > size else cv2.INTER_LINEAR
    return FaceCrop(box, box, cv2.resize(image, (size, size), interpolation=interpolation))

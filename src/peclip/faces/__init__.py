"""The face stage: detectors, a face track kept across frames, square crops, and their settings.

- :class:`FaceDetector` is the pluggable interface: ``detect(frame RGB uint8) -> list[Box]``;
  :class:`HaarFaceDetector` is OpenCV's frontal-face Haar cascade (shipped with opencv-python).
- :class:`FaceTracker` follows one face frame by frame (see :mod:`peclip.faces.tracking`);
  :func:`tracker_for` builds it from :class:`FaceOptions`, the settings ``prepare`` and ``predict`` share.
- :func:`crop_face` cuts a box out of a frame (black outside the frame) and resizes it.
- :func:`faces_in_image` gives every face of a still image as a square crop (the seam for
  multi-face detectors).

The names are imported on first use, so reading :class:`FaceOptions` defaults (the CLI's ``--help``)
does not load OpenCV.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Box": "peclip.faces.box", "crop_face": "peclip.faces.crop", "FaceDetector": "peclip.faces.detectors",
    "HaarFaceDetector": "peclip.faces.detectors", "FaceOptions": "peclip.faces.options",
    "FaceTracker": "peclip.faces.tracking", "Gap": "peclip.faces.tracking", "TrackResult": "peclip.faces.tracking",
    "tracker_for": "peclip.faces.tracking", "FaceCrop": "peclip.faces.stills",
    "faces_in_image": "peclip.faces.stills",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'peclip.faces' has no attribute {name!r}")

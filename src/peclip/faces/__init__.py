"""The face stage: detectors (a registry), every face tracked as a person, aligned crops, and their settings.

- :class:`FaceDetector` is the pluggable interface: ``detect(frame RGB uint8) -> list[Box]``;
  :data:`DETECTORS` names the built-in ones and :func:`create_detector` builds one:
  :class:`RetinaFaceDetector` (the default; 5 landmarks) and :class:`HaarFaceDetector` (OpenCV).
- :class:`FaceTracks` follows every face with a stable id (see :mod:`peclip.faces.tracking`);
  :func:`tracker_for` builds it from :class:`FaceOptions`, the settings ``prepare`` and ``predict`` share;
  :class:`FaceTracker` is its one-face view.
- :func:`align_face` warps a face onto the 5-point template; :func:`crop_face` cuts a square box out of
  a frame (black outside the frame); :func:`face_crop` picks one of the two.
- :func:`faces_in_image` gives every face of a still image as a square crop.

The names are imported on first use, so reading :class:`FaceOptions` defaults (the CLI's ``--help``)
does not load OpenCV.
"""

from __future__ import annotations

from peclip.lazy import lazy_exports

_EXPORTS = {
    "Box": "peclip.faces.box", "crop_face": "peclip.faces.crop", "FaceDetector": "peclip.faces.detectors",
    "HaarFaceDetector": "peclip.faces.detectors", "FaceOptions": "peclip.faces.options",
    "FaceTracker": "peclip.faces.tracking", "Gap": "peclip.faces.tracking", "TrackResult": "peclip.faces.tracking",
    "tracker_for": "peclip.faces.tracking", "FaceTracks": "peclip.faces.tracking",
    "TrackedFace": "peclip.faces.tracking", "DETECTORS": "peclip.faces.detectors",
    "create_detector": "peclip.faces.detectors", "RetinaFaceDetector": "peclip.faces.retinaface",
    "MissingDetectorPackage": "peclip.faces.retinaface", "align_face": "peclip.faces.align",
    "face_crop": "peclip.faces.align", "template_points": "peclip.faces.align",
    "FaceCrop": "peclip.faces.stills", "faces_in_image": "peclip.faces.stills",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("peclip.faces", _EXPORTS)

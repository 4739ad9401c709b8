"""Face detectors: the :class:`FaceDetector` interface, the registry of named detectors, OpenCV's Haar cascade.

A detector takes an RGB uint8 frame ``(H, W, 3)`` and returns the faces in it as :class:`Box` es.
:data:`DETECTORS` names the built-in ones (``--detector NAME``); :func:`create_detector` builds one from
:class:`FaceOptions`. ``retinaface`` (the default, :mod:`peclip.faces.retinaface`) gives 5 landmarks per
face, which alignment needs; ``haar`` needs nothing beyond OpenCV and gives boxes only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from peclip.faces.box import Box
from peclip.faces.options import AUTO, DETECTOR_NAMES, FaceOptions
from peclip.faces.retinaface import INSTALL as RETINAFACE_INSTALL
from peclip.faces.retinaface import MissingDetectorPackage, RetinaFaceDetector, load_model_bytes

log = logging.getLogger(__name__)


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces: ``detect(frame)`` with ``frame`` ``(H, W, 3)`` RGB uint8 returns the
    face boxes in that frame's pixel coordinates (any order, scores optional)."""

    def detect(self, frame: np.ndarray) -> list[Box]: ...


class HaarFaceDetector:
    """OpenCV Haar cascade face detector.

    The frame is converted to grey, shrunk so its shorter side is at most ``detect_size`` pixels
    (detection cost grows with the pixel count), histogram-equalised, and searched for faces at least
    ``min_face`` of the shorter side (and 24 px, the cascade's window) tall. A box's score is the number
    of overlapping raw detections that support it. ``profile_fallback`` also tries the profile cascade
    (both directions) when the frontal one finds nothing. Measured on the test media (docs/data.md):
    it found no face the frontal cascade missed and took 4x the time on frames without a face.
    """

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml",
                 detect_size: int = FaceOptions.detect_size, min_face: float = FaceOptions.min_face,
                 scale_factor: float = 1.1, min_neighbors: int = 5, profile_fallback: bool = False):
        if detect_size < 48:
            raise ValueError(f"detect_size={detect_size} is too small; use at least 48 (default 240)")
        if not 0 < min_face < 1:
            raise ValueError(f"min_face={min_face} must be a fraction of the shorter side in (0, 1)")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor={scale_factor} must be > 1 (default 1.1)")
        self.cascade, self.detect_size, self.min_face = cascade, detect_size, min_face
        self.scale_factor, self.min_neighbors, self.profile_fallback = scale_factor, min_neighbors, profile_fallback
        self._classifiers: dict[str, cv2.CascadeClassifier] = {}

    def __getstate__(self) -> dict:
        # cv2 classifiers do not pickle; worker processes load their own.
        state = dict(self.__dict__)
        state["_classifiers"] = {}
        return state

    def _classifier(self, name: str) -> cv2.CascadeClassifier:
        if name not in self._classifiers:
            path = name if "/" in name or "\\" in name else cv2.data.haarcascades + name
            classifier = cv2.CascadeClassifier(path)
            if classifier.empty():
                raise RuntimeError(f"cannot load the Haar cascade {path}; is opencv-python(-headless) < 5 "
                                   "installed (5.x dropped the cascades)?")
            self._classifiers[name] = classifier
        return self._classifiers[name]

    def _run(self, name: str, grey: np.ndarray, min_side: int) -> list[tuple[np.ndarray, int]]:
        rects, counts = self._classifier(name).detectMultiScale2(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        return list(zip(np.asarray(rects).reshape(-1, 4), np.asarray(counts).reshape(-1), strict=True))

    def detect(self, frame: np.ndarray) -> list[Box]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        height, width = grey.shape
        scale = min(1.0, self.detect_size / min(height, width))
        if scale < 1.0:
            grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                              interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        min_side = max(24, int(self.min_face * min(grey.shape)))
        found = self._run(self.cascade, grey, min_side)
        if not found and self.profile_fallback:
            found = self._run("haarcascade_profileface.xml", grey, min_side)
            if not found:
                # The profile cascade finds faces turned one way: mirror to find the other.
                gw = grey.shape[1]
                mirrored = self._run("haarcascade_profileface.xml", grey[:, ::-1].copy(), min_side)
                found = [(np.array([gw - x - w, y, w, h]), n) for (x, y, w, h), n in mirrored]
        return [Box(x / scale, y / scale, (x + w) / scale, (y + h) / scale, float(n)) for (x, y, w, h), n in found]


@dataclass(frozen=True)
class DetectorSpec:
    """A named detector: how to build it from :class:`FaceOptions`, whether it gives landmarks, what it needs."""

    name: str
    build: Callable[[FaceOptions], FaceDetector]
    landmarks: bool
    install: str
    about: str


DETECTORS: dict[str, DetectorSpec] = {spec.name: spec for spec in (
    DetectorSpec("retinaface", lambda o: RetinaFaceDetector(detect_size=o.detect_size, min_face=o.min_face),
                 True, RETINAFACE_INSTALL, "RetinaFace-MobileNet0.25 on onnxruntime: boxes and 5 landmarks"),
    DetectorSpec("haar", lambda o: HaarFaceDetector(detect_size=o.detect_size, min_face=o.min_face),
                 False, "(part of opencv-python-headless)", "OpenCV's frontal-face Haar cascade: boxes only"),
)}
assert tuple(DETECTORS) == DETECTOR_NAMES, "faces.options.DETECTOR_NAMES must list the registry's names"


def detector_spec(name: str) -> DetectorSpec:
    """The registry entry ``name``; a ValueError lists the valid names."""
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join((AUTO, *DETECTORS))}")
    return DETECTORS[name]


def resolve_detector_name(name: str) -> str:
    """``name``, or for ``auto`` the first detector whose package is installed (retinaface, else haar with a
    warning that says which ``pip install`` brings retinaface)."""
    if name != AUTO:
        detector_spec(name)
        return name
    try:
        load_model_bytes()
    except MissingDetectorPackage as err:
        log.warning("face detector: falling back to OpenCV's Haar cascade (no landmarks, so no alignment): %s", err)
        return "haar"
    return "retinaface"


def resolved(options: FaceOptions) -> FaceOptions:
    """``options`` with ``detector="auto"`` replaced by the detector it stands for (what gets recorded)."""
    name = resolve_detector_name(options.detector)
    return options if name == options.detector else dataclasses.replace(options, detector=name)


def create_detector(name: str | None = None, options: FaceOptions | None = None) -> FaceDetector:
    """The detector ``name`` (default ``options.detector``) built with ``options``' sizes.

    Raises ValueError (listing the valid names) for an unknown name, and
    :class:`~peclip.faces.retinaface.MissingDetectorPackage` (an ImportError saying which
    ``pip install`` brings it) when the detector's package is absent.
    """
    options = options or FaceOptions()
    return detector_spec(resolve_detector_name(name or options.detector)).build(options)

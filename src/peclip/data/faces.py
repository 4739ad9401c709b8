"""Face detection, a face track kept across frames, and square face crops.

- :class:`FaceDetector` is the pluggable interface: ``detect(frame RGB uint8) -> list[Box]``.
  :class:`HaarFaceDetector` is OpenCV's frontal-face Haar cascade (shipped with opencv-python).
- :class:`FaceTracker` is fed frames one by one and returns a smoothed square box with a margin, or
  ``None``. It follows one face (the largest when a track starts): once a face is found it searches a
  small region around it (fast and steady), holds the last box through short misses (``max_gap``
  seconds) and reports longer gaps.
- :func:`crop_face` cuts a box out of a frame (black outside the frame) and resizes it.

The tracker and the crop know nothing about files, so prediction reuses them frame by frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, ``(x0, y0)`` top-left, ``(x1, y1)`` bottom-right, with a score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other``."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        inter = max(0.0, w) * max(0.0, h)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def transformed(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Box:
        """``(x * scale + dx, y * scale + dy)`` for both corners."""
        return Box(self.x0 * scale + dx, self.y0 * scale + dy, self.x1 * scale + dx, self.y1 * scale + dy, self.score)

    @staticmethod
    def square(cx: float, cy: float, side: float, score: float = 1.0) -> Box:
        half = side / 2
        return Box(cx - half, cy - half, cx + half, cy + half, score)

    def as_list(self, digits: int = 1) -> list[float]:
        return [round(v, digits) for v in (self.x0, self.y0, self.x1, self.y1)]


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
    (both directions) when the frontal one finds nothing. Measured on the test media (docs/readme/data.md):
    it found no face the frontal cascade missed and took 4x the time on frames without a face.
    """

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", detect_size: int = 240,
                 min_face: float = 0.1, scale_factor: float = 1.1, min_neighbors: int = 5,
                 profile_fallback: bool = False):
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


@dataclass
class TrackResult:
    """The tracker's answer for one frame: ``box`` is the square crop box (margin included, smoothed),
    ``None`` when there is no face; ``face`` is this frame's raw detection (``None`` when missed);
    ``held`` says the box was carried over from an earlier frame."""

    index: int
    box: Box | None
    face: Box | None
    held: bool = False


@dataclass(frozen=True)
class Gap:
    """Frames ``start..end`` (inclusive) had no face box: never found, or missed longer than the hold."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class _Track:
    cx: float
    cy: float
    side: float
    last_face: Box
    hits: int = 1
    misses: int = 0


@dataclass
class FaceTracker:
    """Follow one face through a video, frame by frame (:meth:`update`).

    - A track starts on the largest face of a full-frame detection (``select="largest"``; ``"center"``
      takes the face nearest the frame centre) and is confirmed after ``confirm`` consecutive
      detections; only confirmed tracks give boxes (one stray detection does not make a face).
    - While tracking, the detector looks in a region ``roi_scale`` times the face around the last face,
      shrunk to ``roi_size`` px; when that fails, in the whole frame for a face overlapping the track.
    - Centre and size are smoothed with an exponential moving average (``smoothing`` is the weight of
      the new detection; 1 = none). The crop box is square, ``1 + 2 * margin`` times the face side.
    - A missed face keeps the last box for up to ``max_gap`` seconds (``fps`` converts it to frames);
      after that the track is dropped and the frames without a box are recorded in :attr:`gaps`.
    """

    detector: FaceDetector | None = None
    fps: float = 25.0
    max_gap: float = 0.5
    margin: float = 0.25
    smoothing: float = 0.6
    select: str = "largest"
    confirm: int = 3
    roi_scale: float = 2.0
    roi_size: int = 96
    gaps: list[Gap] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.detector = self.detector if self.detector is not None else HaarFaceDetector()
        if not isinstance(self.detector, FaceDetector):
            raise TypeError(f"detector {self.detector!r} has no detect(frame) -> list[Box] method")
        if self.select not in ("largest", "center"):
            raise ValueError(f"select={self.select!r} is not valid; choose largest or center")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing={self.smoothing} must be in (0, 1] (weight of the new detection)")
        if self.margin < 0 or self.max_gap < 0 or self.fps <= 0 or self.confirm < 1 or self.roi_scale < 1:
            raise ValueError(f"bad tracker settings: margin={self.margin} (>= 0), max_gap={self.max_gap} s (>= 0), "
                             f"fps={self.fps} (> 0), confirm={self.confirm} (>= 1), roi_scale={self.roi_scale} (>= 1)")
        self.max_gap_frames = int(math.floor(self.max_gap * self.fps + 1e-9))
        self.reset()

    def reset(self) -> None:
        """Forget the track and the gaps (a new video)."""
        self._track: _Track | None = None
        self._index = -1
        self._gap_start: int | None = None
        self.gaps = []
        self.detections = 0

    # -- detection helpers -------------------------------------------------------------------------
    def _pick(self, faces: list[Box], frame_shape: tuple[int, ...]) -> Box:
        if self.select == "center":
            fy, fx = frame_shape[0] / 2, frame_shape[1] / 2
            return min(faces, key=lambda b: (b.center[0] - fx) ** 2 + (b.center[1] - fy) ** 2)
        return max(faces, key=lambda b: b.area)

    def _detect_near(self, frame: np.ndarray, track: _Track) -> Box | None:
        height, width = frame.shape[:2]
        last = track.last_face
        side = self.roi_scale * max(last.width, last.height)
        cx, cy = last.center
        x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        x1, y1 = min(width, int(math.ceil(cx + side / 2))), min(height, int(math.ceil(cy + side / 2)))
        if x1 - x0 < 24 or y1 - y0 < 24:
            return None
        region = frame[y0:y1, x0:x1]
        scale = min(1.0, self.roi_size / max(region.shape[:2]))
        if scale < 1.0:
            new_size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
            region = cv2.resize(region, new_size, interpolation=cv2.INTER_AREA)
        faces = [b.transformed(1 / scale, x0, y0) for b in self.detector.detect(region)]
        # Faces much smaller than the tracked one are parts of it (an eye) or other people far away.
        faces = [b for b in faces if b.width >= 0.5 * last.width]
        if not faces:
            return None
        return min(faces, key=lambda b: (b.center[0] - cx) ** 2 + (b.center[1] - cy) ** 2)

    # -- the per-frame step ------------------------------------------------------------------------
    def _crop_box(self, track: _Track) -> Box:
        return Box.square(track.cx, track.cy, track.side * (1 + 2 * self.margin), track.last_face.score)

    def update(self, frame: np.ndarray) -> TrackResult:
        """Feed the next frame (RGB uint8 ``(H, W, 3)``); get its face box or ``None``."""
        self._index += 1
        index = self._index
        track = self._track
        face = self._detect_near(frame, track) if track is not None else None
        if face is None:
            faces = self.detector.detect(frame)
            if track is not None:
                faces = [b for b in faces if b.iou(track.last_face) > 0.1]
            face = self._pick(faces, frame.shape) if faces else None
        if face is not None:
            self.detections += 1
            side = max(face.width, face.height)
            if track is None:
                track = self._track = _Track(*face.center, side, face)
            else:
                a = self.smoothing
                track.cx = a * face.center[0] + (1 - a) * track.cx
                track.cy = a * face.center[1] + (1 - a) * track.cy
                track.side = a * side + (1 - a) * track.side
                track.last_face, track.misses = face, 0
                track.hits += 1
            if track.hits >= self.confirm:
                self._close_gap(index - 1)
                return TrackResult(index, self._crop_box(track), face)
            self._open_gap(index)
            return TrackResult(index, None, face)
        if track is not None:
            track.misses += 1
            if track.hits >= self.confirm and track.misses <= self.max_gap_frames:
                return TrackResult(index, self._crop_box(track), None, held=True)
            self._track = None  # a tentative track dies on its first miss, a confirmed one after the hold
        self._open_gap(index)
        return TrackResult(index, None, None)

    def _open_gap(self, index: int) -> None:
        if self._gap_start is None:
            self._gap_start = index

    def _close_gap(self, end: int) -> None:
        if self._gap_start is not None and end >= self._gap_start:
            self.gaps.append(Gap(self._gap_start, end))
        self._gap_start = None

    def finish(self) -> list[Gap]:
        """Close a gap that runs to the last frame fed; returns all gaps."""
        self._close_gap(self._index)
        return self.gaps


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

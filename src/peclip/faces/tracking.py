"""Follow one face through a video frame by frame, and record the gaps where it is missing.

:class:`FaceTracker` is fed frames one by one and returns a smoothed square box with a margin, or
``None``. It follows one face (the largest when a track starts): once a face is found it searches a
small region around it (fast and steady), holds the last box through short misses (``max_gap``
seconds) and reports longer gaps. It knows nothing about files, so prediction reuses it frame by frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from peclip.faces.box import Box
from peclip.faces.detectors import FaceDetector, HaarFaceDetector
from peclip.faces.options import SELECTS, FaceOptions


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
    max_gap: float = FaceOptions.max_gap
    margin: float = FaceOptions.margin
    smoothing: float = FaceOptions.smoothing
    select: str = FaceOptions.select
    confirm: int = 3
    roi_scale: float = 2.0
    roi_size: int = 96
    gaps: list[Gap] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.detector = self.detector if self.detector is not None else HaarFaceDetector()
        if not isinstance(self.detector, FaceDetector):
            raise TypeError(f"detector {self.detector!r} has no detect(frame) -> list[Box] method")
        if self.select not in SELECTS:
            raise ValueError(f"select={self.select!r} is not valid; choose one of: {', '.join(SELECTS)}")
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


def tracker_for(options: FaceOptions, fps: float, detector: FaceDetector | None = None,
                num_frames: int | None = None, **extra) -> FaceTracker:
    """The face tracker ``options`` describe (``prepare`` and prediction both build theirs here).

    ``num_frames`` (the clip's frame count, when known) caps the confirmation rule: a still image or a
    video of 1-2 frames cannot show a face in ``confirm`` consecutive frames, so there a detection in
    every frame confirms the track.
    """
    detector = detector or HaarFaceDetector(detect_size=options.detect_size, min_face=options.min_face)
    if num_frames and num_frames > 0 and "confirm" not in extra:
        extra["confirm"] = max(1, min(FaceTracker.confirm, int(num_frames)))
    return FaceTracker(detector, fps=fps, max_gap=options.max_gap, margin=options.margin,
                       smoothing=options.smoothing, select=options.select, **extra)

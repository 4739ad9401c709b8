"""Every face in a video, tracked as a person: detection, association across frames, stable ids, gaps.

:class:`FaceTracks` is fed frames one by one and returns the faces of that frame, each with its track
id. It knows nothing about files, so ``prepare`` and ``predict`` share it (:func:`tracker_for`).

- **Detect every k-th frame** (``detect_every``); in between, every track moves by its velocity (an
  exponential average of its centre's motion per frame), so the cost of detection is shared by k frames.
  ``detect_at`` (a predicate of the frame index) replaces that schedule: prediction passes the frames
  its clips will sample (:mod:`peclip.predict.detect_plan`).
- **Associate** each detection with a track by the overlap (IoU) of the detection with the track's box
  predicted for this frame, best pairs first; a detection that overlaps no track but lies within half a
  face of its predicted centre still matches (fast motion). Predicting by motion keeps two faces that
  cross apart as long as they move steadily.
- **Appearance** (``appearance``, on by default): each track keeps a colour histogram of its face
  (:mod:`peclip.faces.appearance`), learned only from detections that overlap no other face. Where
  overlap and motion are ambiguous (two predicted boxes overlap, two detections could be one track's, a
  held face comes back after a miss, possibly farther than half a face from where it was lost), the
  group is matched by appearance first (:func:`peclip.faces.association.match`), so two faces that
  cross keep their ids even when one of them reverses direction while they overlap.
- **Confirm** a track after ``confirm`` consecutive detections (one stray detection never makes a face);
  only then does it get the next id (0, 1, ...), so ids count people, not false alarms.
- **Hold** a confirmed track that is missed for up to ``max_gap`` seconds at its last place (``held``),
  then drop it; a face that comes back later is a new track.
- **Cuts**: a hard cut (the mean absolute difference of 64x36 grey thumbnails of two consecutive frames
  above ``cut_threshold`` grey levels) ends every track, so no id carries over from one shot's face to
  another's.
- ``refine_tilted``: the landmarks of a face tilted 15 degrees or more are detected again on the face
  turned upright (:mod:`peclip.faces.refine`).
- ``max_faces`` tracks at most (new faces taken in the ``select`` order: largest or nearest the centre);
  detections smaller than ``min_face_size`` px are ignored.

:class:`FaceTracker` is the one-face view (``max_faces=1``) with the frames without a face as :class:`Gap` s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from peclip.faces.appearance import appearance, blend
from peclip.faces.association import match
from peclip.faces.box import Box
from peclip.faces.detectors import FaceDetector, HaarFaceDetector, create_detector
from peclip.faces.options import SELECTS, FaceOptions
from peclip.faces.refine import refine_landmarks


@dataclass
class TrackResult:
    """The one-face tracker's answer for one frame: ``box`` is the square crop box (margin included, smoothed),
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
class TrackedFace:
    """One face in one frame.

    ``key`` identifies the track from its first detection on; ``track`` is its id once confirmed (None while
    it awaits confirmation). ``face`` is the smoothed face (box and landmarks) in this frame, ``box`` the
    square crop box around it (margin included), ``detection`` this frame's raw detection (None on a frame
    without detection or a miss). ``held``: missed at a detection, kept at its last place.
    """

    key: int
    track: int | None
    face: Box
    box: Box
    detection: Box | None = None
    held: bool = False

    @property
    def detected(self) -> bool:
        return self.detection is not None


@dataclass
class _Track:
    key: int
    face: Box  # smoothed, at frame `at`
    at: int
    velocity: tuple[float, float] = (0.0, 0.0)  # px per frame of the centre
    track: int | None = None
    hits: int = 1
    missed_since: int | None = None  # frame of the first miss of the current run
    look: np.ndarray | None = None  # appearance descriptor (peclip.faces.appearance), None without the cue

    def predicted(self, index: int) -> Box:
        steps = index - self.at
        return self.face.shifted(self.velocity[0] * steps, self.velocity[1] * steps)


def _blend(new: Box, old: Box, a: float) -> Box:
    """``a * new + (1 - a) * old`` for the corners and the landmarks (the new face's score)."""
    def mix(u: float, v: float) -> float:
        return a * u + (1 - a) * v

    points = new.landmarks
    if new.landmarks is not None and old.landmarks is not None:
        points = tuple((mix(x, ox), mix(y, oy)) for (x, y), (ox, oy) in zip(new.landmarks, old.landmarks, strict=True))
    return Box(mix(new.x0, old.x0), mix(new.y0, old.y0), mix(new.x1, old.x1), mix(new.y1, old.y1), new.score, points)


@dataclass
class FaceTracks:
    """Every face of a video as a track with a stable id, frame by frame (:meth:`update`; module docstring)."""

    detector: FaceDetector | None = None
    fps: float = 25.0
    max_gap: float = FaceOptions.max_gap
    margin: float = FaceOptions.margin
    smoothing: float = FaceOptions.smoothing
    select: str = FaceOptions.select
    max_faces: int | None = FaceOptions.max_faces
    min_face_size: float = FaceOptions.min_face_size
    detect_every: int = FaceOptions.detect_every
    confirm: int = 3
    cut_threshold: float = 40.0
    velocity_smoothing: float = 0.5
    appearance: bool = True
    appearance_rate: float = 0.2
    refine_tilted: bool = FaceOptions.refine_tilted
    #: detect on the frames for which this is true instead of every ``detect_every``-th (None: that schedule);
    #: a hard cut and a track awaiting confirmation still force a detection
    detect_at: Callable[[int], bool] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.detector = self.detector if self.detector is not None else create_detector()
        if not isinstance(self.detector, FaceDetector):
            raise TypeError(f"detector {self.detector!r} has no detect(frame) -> list[Box] method")
        if self.select not in SELECTS:
            raise ValueError(f"select={self.select!r} is not valid; choose one of: {', '.join(SELECTS)}")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing={self.smoothing} must be in (0, 1] (weight of the new detection)")
        if self.margin < 0 or self.max_gap < 0 or self.fps <= 0 or self.confirm < 1 or self.detect_every < 1:
            raise ValueError(f"bad tracker settings: margin={self.margin} (>= 0), max_gap={self.max_gap} s (>= 0), "
                             f"fps={self.fps} (> 0), confirm={self.confirm} (>= 1), "
                             f"detect_every={self.detect_every} (>= 1)")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces={self.max_faces} must be >= 1, or None for all faces")
        if not 0 < self.appearance_rate <= 1:
            raise ValueError(f"appearance_rate={self.appearance_rate} must be in (0, 1] (weight of a new look)")
        self.max_gap_frames = int(math.floor(self.max_gap * self.fps + 1e-9))
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start at 0 again."""
        self._tracks: list[_Track] = []
        self._index = -1
        self._next_key = 0
        self._next_id = 0
        self._thumb: np.ndarray | None = None
        self._since_detect = self.detect_every  # the first frame is a detection frame
        self._forced = True  # ... under detect_at too
        self.cuts: list[int] = []

    # -- helpers ------------------------------------------------------------------------------------
    def _crop_box(self, face: Box) -> Box:
        return Box.square(*face.center, max(face.width, face.height) * (1 + 2 * self.margin), face.score)

    def _order(self, faces: list[Box], shape: tuple[int, ...]) -> list[Box]:
        if self.select == "center":
            fy, fx = shape[0] / 2, shape[1] / 2
            return sorted(faces, key=lambda b: (b.center[0] - fx) ** 2 + (b.center[1] - fy) ** 2)
        return sorted(faces, key=lambda b: -b.area)

    def _is_cut(self, frame: np.ndarray) -> bool:
        thumb = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (64, 36), interpolation=cv2.INTER_AREA)
        previous, self._thumb = self._thumb, thumb.astype(np.float32)
        return previous is not None and float(np.abs(self._thumb - previous).mean()) > self.cut_threshold

    def _associate(self, detections: list[Box], looks: list | None, index: int):
        """Track index -> detection index, the unmatched detections and the cleanly matched tracks
        (:func:`peclip.faces.association.match`)."""
        missed = [0 if t.missed_since is None else index - t.at - 1 for t in self._tracks]
        track_looks = [t.look for t in self._tracks] if looks is not None else None
        return match([t.predicted(index) for t in self._tracks], detections, missed, track_looks, looks)

    def _update_track(self, track: _Track, det: Box, index: int) -> None:
        predicted = track.predicted(index)
        steps = max(1, index - track.at)
        face = _blend(det, predicted, self.smoothing)
        motion = ((face.center[0] - track.face.center[0]) / steps, (face.center[1] - track.face.center[1]) / steps)
        b = self.velocity_smoothing
        track.velocity = (b * motion[0] + (1 - b) * track.velocity[0], b * motion[1] + (1 - b) * track.velocity[1])
        track.face, track.at = face, index
        track.hits += 1
        track.missed_since = None

    # -- the per-frame step -------------------------------------------------------------------------
    def update(self, frame: np.ndarray) -> list[TrackedFace]:
        """Feed the next frame (RGB uint8 ``(H, W, 3)``); get its faces (confirmed and awaiting confirmation),
        ordered by key (the order in which they were first seen)."""
        self._index += 1
        index = self._index
        if self._is_cut(frame) and self._tracks:
            self._tracks = []
            self.cuts.append(index)
            self._since_detect = self.detect_every
            self._forced = True
        self._since_detect += 1
        if self.detect_at is not None:
            due = self._forced or self.detect_at(index)
        else:
            due = self._since_detect >= self.detect_every
        if not due and all(t.track is not None for t in self._tracks):
            return [TrackedFace(t.key, t.track, f, self._crop_box(f), held=t.missed_since is not None)
                    for t in self._tracks for f in [t.predicted(index)]]
        self._since_detect, self._forced = 0, False
        detections = [d for d in self.detector.detect(frame) if max(d.width, d.height) >= self.min_face_size]
        if self.refine_tilted:
            detections = [refine_landmarks(frame, d, self.detector) for d in detections]
        detections = self._order(detections, frame.shape)
        looks = [appearance(frame, d) for d in detections] if self.appearance else None
        found = self._associate(detections, looks, index)
        matched, fresh = found.pairs, found.fresh
        out: list[TrackedFace] = []
        kept: list[_Track] = []
        for t, track in enumerate(self._tracks):
            if t in matched:
                det = detections[matched[t]]
                self._update_track(track, det, index)
                if looks is not None and t in found.clean:
                    track.look = blend(track.look, looks[matched[t]], self.appearance_rate)
                if track.track is None and track.hits >= self.confirm:
                    track.track, self._next_id = self._next_id, self._next_id + 1
                kept.append(track)
                out.append(TrackedFace(track.key, track.track, track.face, self._crop_box(track.face), det))
                continue
            if track.track is None:
                continue  # a track awaiting confirmation dies on its first miss
            track.missed_since = index if track.missed_since is None else track.missed_since
            if index - track.missed_since + 1 > self.max_gap_frames:
                continue  # missed longer than the hold: dropped
            track.velocity = (0.0, 0.0)  # held where it was last seen
            kept.append(track)
            face = track.predicted(index)
            out.append(TrackedFace(track.key, track.track, face, self._crop_box(face), None, held=True))
        room = None if self.max_faces is None else self.max_faces - len(kept)
        for d in fresh if room is None else fresh[:max(0, room)]:
            det = detections[d]
            track = _Track(self._next_key, det, index, look=None if looks is None else looks[d])
            self._next_key += 1
            if self.confirm <= 1:
                track.track, self._next_id = self._next_id, self._next_id + 1
            kept.append(track)
            out.append(TrackedFace(track.key, track.track, det, self._crop_box(det), det))
        self._tracks = kept
        return sorted(out, key=lambda f: f.key)


@dataclass
class FaceTracker:
    """Follow one face through a video (:class:`FaceTracks` with ``max_faces=1``), frame by frame.

    :meth:`update` gives the face's crop box once its track is confirmed (``None`` before, and after it
    was missed longer than the hold); :attr:`gaps` records the frames without a box.
    """

    detector: FaceDetector | None = None
    fps: float = 25.0
    max_gap: float = FaceOptions.max_gap
    margin: float = FaceOptions.margin
    smoothing: float = FaceOptions.smoothing
    select: str = FaceOptions.select
    confirm: int = 3
    detect_every: int = 1
    gaps: list[Gap] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracks = FaceTracks(self.detector if self.detector is not None else HaarFaceDetector(), fps=self.fps,
                                 max_gap=self.max_gap, margin=self.margin, smoothing=self.smoothing,
                                 select=self.select, max_faces=1, confirm=self.confirm,
                                 detect_every=self.detect_every)
        self.detector = self.tracks.detector
        self.max_gap_frames = self.tracks.max_gap_frames
        self.reset()

    def reset(self) -> None:
        """Forget the track and the gaps (a new video)."""
        self.tracks.reset()
        self._index = -1
        self._gap_start: int | None = None
        self.gaps = []

    def update(self, frame: np.ndarray) -> TrackResult:
        """Feed the next frame (RGB uint8 ``(H, W, 3)``); get its face box or ``None``."""
        self._index += 1
        faces = [f for f in self.tracks.update(frame) if f.track is not None]
        if not faces:
            if self._gap_start is None:
                self._gap_start = self._index
            return TrackResult(self._index, None, None)
        face = faces[0]
        if self._gap_start is not None:
            self.gaps.append(Gap(self._gap_start, self._index - 1))
            self._gap_start = None
        return TrackResult(self._index, face.box, face.detection, held=face.held)

    def finish(self) -> list[Gap]:
        """Close a gap that runs to the last frame fed; returns all gaps."""
        if self._gap_start is not None and self._index >= self._gap_start:
            self.gaps.append(Gap(self._gap_start, self._index))
            self._gap_start = None
        return self.gaps


def tracker_for(options: FaceOptions, fps: float, detector: FaceDetector | None = None,
                num_frames: int | None = None, **extra) -> FaceTracks:
    """The face tracks ``options`` describe (``prepare`` and prediction both build theirs here); ``detector``
    replaces the one ``options.detector`` names.

    ``num_frames`` (the clip's frame count, when known) caps the confirmation rule: a still image or a
    video of 1-2 frames cannot show a face in ``confirm`` consecutive frames, so there a detection in
    every frame confirms the track.
    """
    detector = detector or create_detector(options=options)
    if num_frames and num_frames > 0 and "confirm" not in extra:
        extra["confirm"] = max(1, min(FaceTracks.confirm, int(num_frames)))
    return FaceTracks(detector, fps=fps, max_gap=options.max_gap, margin=options.margin, smoothing=options.smoothing,
                      select=options.select, max_faces=options.max_faces, min_face_size=options.min_face_size,
                      detect_every=options.detect_every, refine_tilted=options.refine_tilted, **extra)

"""Frames with their face crops, from the data layer's decoder and face tracker; and the overlay pass.

:class:`FaceFrameSource` decodes a video once (:func:`peclip.data.video.open_video`; a still image is a
one-frame clip, a frame folder a clip at 25 fps) and runs :class:`peclip.faces.FaceTracks` on
every frame with the settings of ``peclip prepare`` (:class:`peclip.faces.FaceOptions`: detector,
alignment, margins), so a model sees the same crops at prediction as at training. Every face is
tracked as a person with a stable id (0, 1, ... in the order they are confirmed); a frame carries all
its faces (:attr:`~peclip.predict.windows.TimedFrame.faces`). As in ``prepare``, a box the tracker
merely held through a miss counts as a face only if the face comes back; frames held until the track
was dropped are frames without that face. A still image has only one frame, so one detection
confirms a face; so do the detections of a video of 1-2 frames (the tracker's confirmation rule is
capped by the frame count). After the iteration, ``decode_report`` says whether the whole file decoded.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from peclip.atomic import atomic_writer
from peclip.data.video import clip_kind, open_video
from peclip.faces.align import face_crop
from peclip.faces.options import FaceOptions
from peclip.faces.tracking import tracker_for
from peclip.predict.overlay import OverlayWriter, draw_frame
from peclip.predict.windows import TimedFrame, own_spans

log = logging.getLogger(__name__)


class FaceFrameSource:
    """Iterate :class:`~peclip.predict.windows.TimedFrame` s (face box and ``size x size`` crop, or none).

    After the iteration, ``frames_read``, ``duration`` (s), ``frame_times`` and ``frame_boxes`` (one
    list of ``(track, box)`` per frame) describe the video. ``fps`` is None for a still image (its duration is 0).
    With ``detect_faces=False`` every frame is the face: the whole frame resized to ``size x size``
    (what the test transform does to an already cropped clip).
    """

    #: detect on the frame indices this is true for (peclip.predict.detect_plan); None: every ``detect_every``-th
    detect_at = None

    def __init__(self, path: str | os.PathLike, size: int, detect_faces: bool = True, detector=None,
                 face_options=None, progress: bool = False, detect_at=None):
        self.path = Path(path)
        self.kind = clip_kind(self.path)  # FileNotFoundError for a missing path
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise ValueError(f"{self.path} is an empty file (0 bytes); nothing to predict")
        self.size = size
        self.detect_faces = detect_faces
        self.detector = detector
        self.face_options = face_options or FaceOptions()
        self.progress = progress
        self.detect_at = detect_at
        self._video = open_video(self.path)  # VideoReadError for an unreadable file
        self.fps: float | None = None if self.kind == "image" else self._video.fps
        self.frames_read = 0
        self.decode_report = None  # DecodeReport, once the video has been read
        self.frame_times: list[float] = []
        self.frame_boxes: list[list[tuple[int | None, tuple[float, float, float, float]]]] = []
        self._last_time = 0.0

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last (0 for a still image)."""
        if self.frames_read == 0 or self.fps is None:
            return 0.0
        return self._last_time + 1.0 / self.fps

    def _tracker(self):
        # A still image or a 1-2 frame video cannot show a face in several consecutive frames: the frame
        # count caps the tracker's confirmation rule.
        tracker = tracker_for(self.face_options, self.fps or 25.0, self.detector, num_frames=self._video.num_frames)
        tracker.detect_at = self.detect_at if self.fps else None  # a still image is one frame: detect it
        return tracker

    def _emit(self, frame: TimedFrame) -> TimedFrame:
        self.frame_boxes[frame.index] = [(f.track, f.box) for f in frame.faces]
        return frame

    def _whole_frame(self, index: int, time: float, image: np.ndarray) -> TimedFrame:
        import cv2

        height, width = image.shape[:2]
        interpolation = cv2.INTER_AREA if min(height, width) > self.size else cv2.INTER_LINEAR
        crop = cv2.resize(image, (self.size, self.size), interpolation=interpolation)
        return TimedFrame(index, time, (0.0, 0.0, float(width), float(height)), crop, 0)

    def __iter__(self) -> Iterator[TimedFrame]:
        from tqdm import tqdm

        tracker = self._tracker() if self.detect_faces else None
        align, margin = self.face_options.align, self.face_options.margin
        # Per track, the frames whose box was merely held through a miss: they count as faces only if the
        # face comes back, so frames are released in order once every held face is decided.
        queue: list[TimedFrame] = []
        undecided: dict[int, list[TimedFrame]] = {}  # track -> its held faces awaiting the face's return
        with self._video as video:
            bar = tqdm(video, total=video.num_frames or None, desc=self.path.name, unit="frame",
                       disable=not self.progress, leave=False)
            for decoded in bar:
                index, image = self.frames_read, decoded.image
                time = self._monotonic(decoded.time)
                self.frames_read += 1
                self.frame_times.append(time)
                self.frame_boxes.append([])
                if tracker is None:
                    yield self._emit(self._whole_frame(index, time, image))
                    continue
                faces = []
                live = set()
                for found in tracker.update(image):
                    if found.track is None:
                        continue  # awaiting confirmation
                    live.add(found.track)
                    b = found.box
                    crop = face_crop(image, found.face, b, self.size, align, margin)
                    face = TimedFrame(index, time, (b.x0, b.y0, b.x1, b.y1), crop, found.track)
                    faces.append(face)
                    if found.held:
                        undecided.setdefault(found.track, []).append(face)
                    else:
                        undecided.pop(found.track, None)  # the face came back: its held frames stay
                for track in [t for t in undecided if t not in live]:  # lost: its held frames had no face
                    for face in undecided.pop(track):
                        face.box = None
                frame = TimedFrame(index, time)
                if faces:
                    frame = faces[0]
                    frame.other_faces = faces[1:]
                queue.append(frame)
                pending = min((fs[0].index for fs in undecided.values() if fs), default=index + 1)
                while queue and queue[0].index < pending:
                    yield self._emit(_drop_lost(queue.pop(0)))
            for faces in undecided.values():  # held to the end: no face
                for face in faces:
                    face.box = None
            while queue:
                yield self._emit(_drop_lost(queue.pop(0)))
            self.decode_report = video.report()
        if self.frames_read == 0:
            raise ValueError(f"{self.path} has no video frames (a zero-length video); nothing to predict")

    def _monotonic(self, time: float) -> float:
        if self.frames_read and time < self._last_time:
            log.debug("%s: frame %d has an earlier timestamp (%.3f s) than the one before; using %.3f s",
                      self.path, self.frames_read, time, self._last_time)
            time = self._last_time
        self._last_time = time
        return time


def _drop_lost(frame: TimedFrame) -> TimedFrame:
    """The frame without the faces that were held and then lost (their box was cleared)."""
    faces = [f for f in frame.faces if f.box is not None]
    if not faces:
        return TimedFrame(frame.index, frame.time)
    first = faces[0]
    first.other_faces = faces[1:]
    return first


def frame_labels(result) -> list[dict[int | None, str]]:
    """The label drawn on each video frame per person (track): the top class of that person's window that
    speaks for the frame's time."""
    keys = list(zip(result.starts.tolist(), result.ends.tolist(), strict=True))
    windows = list(dict.fromkeys(keys))  # the distinct windows, in order (rows repeat a window per person)
    spans = own_spans(windows, result.duration)
    lows = [lo for lo, _ in spans]
    rows: dict[tuple, dict] = {}
    for i, key in enumerate(keys):
        if result.face[i]:
            c = int(np.argmax(result.probabilities[i]))
            rows.setdefault(key, {})[result.tracks[i]] = f"{result.class_names[c]} {result.probabilities[i, c]:.2f}"
    labels = []
    for time in result.frame_times:
        w = max(0, bisect.bisect_right(lows, time) - 1)
        labels.append(rows.get(windows[w], {}) if w < len(windows) else {})
    return labels


def write_overlay(result, path: str | os.PathLike, progress: bool = False) -> Path:
    """Decode ``result.source`` again and write every frame with its face box and label (see overlay.py).

    The video is encoded under a temporary name beside ``path`` and renamed when it is whole
    (:mod:`peclip.atomic`), so a run killed mid-encode never leaves an unreadable file under ``path``.
    """
    from tqdm import tqdm


    labels = frame_labels(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as tmp:  # a killed run leaves no unreadable overlay under the final name
        writer = None
        try:
            with open_video(result.source) as video:
                for i, decoded in enumerate(tqdm(video, total=result.num_video_frames, desc="overlay", unit="frame",
                                                 disable=not progress, leave=False)):
                    image = decoded.image
                    if writer is None:
                        writer = OverlayWriter(tmp, image.shape[1], image.shape[0], result.fps)
                    known = i < len(result.frame_times)
                    boxes = result.frame_boxes[i] if known else []
                    time = result.frame_times[i] if known else decoded.time
                    faces = [(box, labels[i].get(track), track) for track, box in boxes]
                    writer.write(draw_frame(image, faces, time))
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{result.source} has no frames to draw on")
    if writer.frames != result.num_video_frames:
        log.warning("%s: the overlay has %d frames, the prediction pass read %d", result.source, writer.frames,
                    result.num_video_frames)
    return path

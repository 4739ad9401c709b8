"""Frames with their face crops, from the data layer's decoder and face tracker; and the overlay pass.

:class:`FaceFrameSource` decodes a video once (:func:`peclip.data.video.open_video`; a still image is a
one-frame clip, a frame folder a clip at 25 fps) and runs :class:`peclip.faces.FaceTracker` on
every frame with the settings of ``peclip prepare`` (:class:`peclip.faces.FaceOptions`), so a
model sees the same crops at prediction as at training. As in ``prepare``, a box the tracker merely
held through a miss counts as a face only if the face comes back; frames held until the track was
dropped are frames without a face. Each new confirmed track gets the next track id (0, 1, ...).
A still image has only one frame, so one detection confirms its face; so do the detections of a
video of 1-2 frames (the tracker's confirmation rule is capped by the frame count).
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
from peclip.faces.crop import crop_face
from peclip.faces.options import FaceOptions
from peclip.faces.tracking import tracker_for
from peclip.predict.overlay import OverlayWriter, draw_frame
from peclip.predict.windows import TimedFrame, own_spans

log = logging.getLogger(__name__)


class FaceFrameSource:
    """Iterate :class:`~peclip.predict.windows.TimedFrame` s (face box and ``size x size`` crop, or none).

    After the iteration, ``frames_read``, ``duration`` (s), ``frame_times`` and ``frame_boxes`` (one
    entry per frame) describe the video. ``fps`` is None for a still image (its duration is 0).
    With ``detect_faces=False`` every frame is the face: the whole frame resized to ``size x size``
    (what the test transform does to an already cropped clip).
    """

    def __init__(self, path: str | os.PathLike, size: int, detect_faces: bool = True, detector=None,
                 face_options=None, progress: bool = False):
        self.path = Path(path)
        self.kind = clip_kind(self.path)  # FileNotFoundError for a missing path
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise ValueError(f"{self.path} is an empty file (0 bytes); nothing to predict")
        self.size = size
        self.detect_faces = detect_faces
        self.detector = detector
        self.face_options = face_options or FaceOptions()
        self.progress = progress
        self._video = open_video(self.path)  # VideoReadError for an unreadable file
        self.fps: float | None = None if self.kind == "image" else self._video.fps
        self.frames_read = 0
        self.decode_report = None  # DecodeReport, once the video has been read
        self.frame_times: list[float] = []
        self.frame_boxes: list[tuple[float, float, float, float] | None] = []
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
        return tracker_for(self.face_options, self.fps or 25.0, self.detector, num_frames=self._video.num_frames)

    def _emit(self, frame: TimedFrame) -> TimedFrame:
        self.frame_boxes[frame.index] = frame.box
        return frame

    def __iter__(self) -> Iterator[TimedFrame]:
        import cv2
        from tqdm import tqdm


        tracker = self._tracker() if self.detect_faces else None
        track_id, in_track = -1, False
        held: list[TimedFrame] = []  # boxes held through a miss, decided when the face returns or is lost
        with self._video as video:
            bar = tqdm(video, total=video.num_frames or None, desc=self.path.name, unit="frame",
                       disable=not self.progress, leave=False)
            for decoded in bar:
                index, image = self.frames_read, decoded.image
                time = self._monotonic(decoded.time)
                self.frames_read += 1
                self.frame_times.append(time)
                self.frame_boxes.append(None)
                if tracker is None:
                    height, width = image.shape[:2]
                    interpolation = cv2.INTER_AREA if min(height, width) > self.size else cv2.INTER_LINEAR
                    crop = cv2.resize(image, (self.size, self.size), interpolation=interpolation)
                    yield self._emit(TimedFrame(index, time, (0.0, 0.0, float(width), float(height)), crop, 0))
                    continue
                found = tracker.update(image)
                if found.box is None:
                    yield from (TimedFrame(f.index, f.time) for f in held)  # the face never came back
                    held.clear()
                    in_track = False
                    yield TimedFrame(index, time)
                    continue
                if not in_track:
                    track_id, in_track = track_id + 1, True
                b = found.box
                frame = TimedFrame(index, time, (b.x0, b.y0, b.x1, b.y1), crop_face(image, b, self.size), track_id)
                if found.held:
                    held.append(frame)
                    continue
                yield from (self._emit(f) for f in held)
                held.clear()
                yield self._emit(frame)
            yield from (TimedFrame(f.index, f.time) for f in held)  # held to the end: no face
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


def frame_labels(result) -> list[str | None]:
    """The label drawn on each video frame: the top class of the window that speaks for its time."""
    spans = own_spans(list(zip(result.starts.tolist(), result.ends.tolist(), strict=True)), result.duration)
    lows = [lo for lo, _ in spans]
    labels = []
    for time in result.frame_times:
        w = max(0, bisect.bisect_right(lows, time) - 1)
        if w < len(spans) and result.face[w]:
            c = int(np.argmax(result.probabilities[w]))
            labels.append(f"{result.class_names[c]} {result.probabilities[w, c]:.2f}")
        else:
            labels.append(None)
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
    with atomic_writer(path) as tmp:
        writer = None
        try:
            with open_video(result.source) as video:
                for i, decoded in enumerate(tqdm(video, total=result.num_video_frames, desc="overlay", unit="frame",
                                                 disable=not progress, leave=False)):
                    image = decoded.image
                    if writer is None:
                        writer = OverlayWriter(tmp, image.shape[1], image.shape[0], result.fps)
                    known = i < len(result.frame_times)
                    box = result.frame_boxes[i] if known else None
                    time = result.frame_times[i] if known else decoded.time
                    writer.write(draw_frame(image, box, labels[i] if known else None, time))
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{result.source} has no frames to draw on")
    if writer.frames != result.num_video_frames:
        log.warning("%s: the overlay has %d frames, the prediction pass read %d", result.source, writer.frames,
                    result.num_video_frames)
    return path

"""Sliding windows over a stream of timed frames, decided while the video is being decoded.

Window ``k`` covers ``[k * stride, k * stride + length)`` seconds and holds the frames whose
timestamps fall inside it. A new window starts every ``stride`` seconds until one reaches the last
frame: window ``k > 0`` exists only when some frame lies at or after the end of window ``k - 1``.
The last window is cut at the end of the video, so it is never shorter than ``length - stride``
(and a video shorter than ``length`` is exactly one window). Every frame lies in at least one window
because ``stride <= length``.

The windows are found on the fly: :meth:`SlidingWindows.push` takes one frame at a time and returns
the windows that the frame closed, so only the frames of the open windows are held in memory (about
``length`` seconds of face crops), however long the video.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: a window has a face when at least this share of its frames has a tracked face box (default)
DEFAULT_MIN_FACE_FRACTION = 0.5


@dataclass
class TimedFrame:
    """One decoded frame: its index in the video, timestamp (s), a tracked face box (or None), its crop and
    track id; ``other_faces`` holds the frame's further faces, one single-face ``TimedFrame`` each."""

    index: int
    time: float
    box: tuple[float, float, float, float] | None = None
    crop: Any = None  # (S, S, 3) uint8 face crop at the model's input size, None without a face
    track: int | None = None
    other_faces: list[TimedFrame] = field(default_factory=list, repr=False)

    @property
    def faces(self) -> list[TimedFrame]:
        """Every face of the frame as a single-face frame (the first one is this frame itself)."""
        return ([self] if self.box is not None else []) + self.other_faces

    def face_of(self, track: int | None) -> TimedFrame | None:
        """The frame's face of ``track``, or None."""
        return next((f for f in self.faces if f.track == track), None)


@dataclass
class Window:
    """Window ``index`` over ``[start, end)`` seconds with the frames whose timestamps lie inside."""

    index: int
    start: float
    end: float
    frames: list[TimedFrame] = field(default_factory=list)

    @property
    def face_frames(self) -> list[TimedFrame]:
        return [f for f in self.frames if f.box is not None]

    def face_frames_of(self, track: int | None) -> list[TimedFrame]:
        """The face of ``track`` in each frame that has it (single-face frames, in time order)."""
        return [face for f in self.frames if (face := f.face_of(track)) is not None]

    def tracks(self) -> list[int | None]:
        """The ids of the face tracks seen in the window, sorted (None for faces without a track)."""
        return sorted({face.track for f in self.frames for face in f.faces}, key=lambda t: (t is not None, t or 0))

    def has_face(self, min_fraction: float = DEFAULT_MIN_FACE_FRACTION, track: int | None = ...) -> bool:
        """True when at least ``min_fraction`` of the window's frames (and at least one) have a face box
        (of ``track``, when given)."""
        if track is ...:
            count = sum(f.box is not None for f in self.frames)
        else:
            count = sum(f.face_of(track) is not None for f in self.frames)
        return count > 0 and count >= min_fraction * len(self.frames)

    def track(self) -> int | None:
        """The face track most of the window's face frames belong to (ties: the lowest id), or None."""
        tracks = [f.track for f in self.frames if f.box is not None and f.track is not None]
        if not tracks:
            return None
        return min(set(tracks), key=lambda t: (-tracks.count(t), t))


def check_window_settings(length: float, stride: float) -> None:
    """Validate window length and stride (seconds); raises ValueError naming the bad value."""
    if not (isinstance(length, int | float) and math.isfinite(length) and length > 0):
        raise ValueError(f"window length must be a positive number of seconds, got {length!r} (e.g. 2.0)")
    if not (isinstance(stride, int | float) and math.isfinite(stride) and 0 < stride <= length):
        raise ValueError(f"window stride must be > 0 and <= the window length ({length} s) so that the windows "
                         f"cover the whole video, got {stride!r} (e.g. {length / 2})")


class SlidingWindows:
    """Assign frames to sliding windows as they are decoded (module docstring).

    ``push(frame)`` returns the windows that ``frame`` completed (its timestamp is at or past their
    end); ``finish(duration)`` returns the remaining windows, cut at ``duration``. Frames must come
    in increasing time order.
    """

    def __init__(self, length: float, stride: float):
        check_window_settings(length, stride)
        self.length = float(length)
        self.stride = float(stride)
        self._open: list[Window] = []
        self._next = 0  # index of the next window to open
        self._last_time: float | None = None

    def _bounds(self, k: int) -> tuple[float, float]:
        start = k * self.stride  # from k, never accumulated, so that no rounding drifts
        return start, start + self.length

    def push(self, frame: TimedFrame) -> list[Window]:
        if self._last_time is not None and frame.time < self._last_time:
            raise ValueError(f"frame {frame.index} at {frame.time:.3f} s comes before the previous frame "
                             f"({self._last_time:.3f} s); frames must be in presentation order")
        self._last_time = frame.time
        while self._bounds(self._next)[0] <= frame.time:
            start, end = self._bounds(self._next)
            self._open.append(Window(self._next, start, end))
            self._next += 1
        closed = [w for w in self._open if frame.time >= w.end]
        self._open = [w for w in self._open if frame.time < w.end]
        for window in self._open:
            if window.start <= frame.time:
                window.frames.append(frame)
        return closed

    def finish(self, duration: float) -> list[Window]:
        """The windows still open at the end of the video, cut at ``duration`` (seconds)."""
        last = self._last_time
        kept = []
        for window in self._open:
            # window k > 0 exists only when a frame reached the end of window k - 1
            if window.index > 0 and (last is None or last < self._bounds(window.index - 1)[1]):
                continue
            window.end = min(window.end, max(duration, window.start))
            kept.append(window)
        self._open = []
        return kept


def own_spans(windows: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The part of the time line each window speaks for: from the midpoint between its centre and the
    previous window's centre to the midpoint with the next one (the first from 0, the last to ``duration``).

    The spans partition ``[0, duration]``; they decide the label drawn on each overlay frame and the
    time shares of the summary, so overlapping windows never count the same second twice.
    """
    centres = [(s + e) / 2 for s, e in windows]
    spans = []
    for i in range(len(windows)):
        lo = 0.0 if i == 0 else (centres[i - 1] + centres[i]) / 2
        hi = duration if i == len(windows) - 1 else (centres[i] + centres[i + 1]) / 2
        spans.append((lo, max(lo, hi)))
    return spans

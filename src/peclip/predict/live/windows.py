"""Per-person windows over a live stream: the last ``window`` seconds of each face track, cut every hop.

Window ``k`` covers ``[k * hop, k * hop + window)`` seconds of stream time, the bounds of
:class:`peclip.predict.windows.SlidingWindows` with ``stride = hop``, and is closed by the first frame
at or after its end. :class:`PersonWindows` keeps the times of the frames of the open windows and, per
face track (a person), a buffer of that person's face frames: memory is bounded by the window length.
When a window closes, each person seen in it gets their own :class:`~peclip.predict.windows.Window`
(every frame of the span; frames where the person has no face carry no box), so the face share, the
frame sampling (:func:`peclip.predict.runner.sample_clip`) and the scores are those of ``predict``.
With one face at a time that is exactly ``predict``'s window; a track that ends and another that starts
inside one window are two people here, one mixed window in ``predict``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from peclip.predict.runner import sample_clip
from peclip.predict.windows import TimedFrame, Window, check_window_settings


@dataclass
class WindowJob:
    """One person's window, ready to score: ``clip`` holds the ``T`` sampled face frames (None without a face)."""

    window: Window
    track: int | None
    face: bool
    clip: list[TimedFrame] | None
    last_wall: float | None  # capture wall time (time.time()) of the window's last frame
    dropped: int = 0  # frames the capture dropped between the window's first and last frame

    @property
    def key(self):
        return self.track


class PersonWindows:
    """Cut per-person windows from a stream of :class:`TimedFrame` s (module docstring)."""

    def __init__(self, length: float, hop: float, *, num_frames: int, sampling: str, min_face_fraction: float):
        check_window_settings(length, hop)
        self.length, self.hop = float(length), float(hop)
        self.num_frames, self.sampling, self.min_face_fraction = num_frames, sampling, min_face_fraction
        self._frames: deque[tuple[int, float, float | None, int]] = deque()  # (index, time, wall, dropped before)
        self._faces: dict[int, deque[TimedFrame]] = {}  # track -> that person's face frames
        self._next = 0  # the next window to close
        self._last_time: float | None = None

    def _bounds(self, k: int) -> tuple[float, float]:
        start = k * self.hop  # from k, never accumulated, as SlidingWindows
        return start, start + self.length

    @property
    def tracks(self) -> list[int]:
        """The people with face frames in the open windows."""
        return sorted(self._faces)

    def buffered_frames(self) -> int:
        return len(self._frames) + sum(len(d) for d in self._faces.values())

    def push(self, frame: TimedFrame, wall: float | None = None, dropped_before: int = 0) -> list[WindowJob]:
        """Add a frame (several per frame index when several faces are tracked); return the windows it closed."""
        if self._last_time is not None and frame.time < self._last_time:
            raise ValueError(f"frame {frame.index} at {frame.time:.3f} s comes before the previous frame "
                             f"({self._last_time:.3f} s); frames must be in presentation order")
        self._last_time = frame.time
        jobs: list[WindowJob] = []
        while self._bounds(self._next)[1] <= frame.time:
            jobs.extend(self._close(self._next, self._bounds(self._next)[1]))
            self._next += 1
        if not self._frames or self._frames[-1][0] != frame.index:
            self._frames.append((frame.index, frame.time, wall, dropped_before))
        if frame.box is not None and frame.track is not None:
            self._faces.setdefault(frame.track, deque()).append(frame)
        self._prune()
        return jobs

    def finish(self, duration: float) -> list[WindowJob]:
        """The windows still open at the end of the stream, cut at ``duration`` (as SlidingWindows.finish)."""
        jobs: list[WindowJob] = []
        last = self._last_time
        k = self._next
        while last is not None and self._bounds(k)[0] <= last:
            if k > 0 and last < self._bounds(k - 1)[1]:
                break  # window k > 0 exists only when a frame reached the end of window k - 1
            start, end = self._bounds(k)
            jobs.extend(self._close(k, min(end, max(duration, start))))
            k += 1
        self._next = k
        self._frames.clear()
        self._faces.clear()
        return jobs

    def _prune(self) -> None:
        start = self._bounds(self._next)[0]  # no open window reaches further back
        while self._frames and self._frames[0][1] < start:
            self._frames.popleft()
        for track in list(self._faces):
            faces = self._faces[track]
            while faces and faces[0].time < start:
                faces.popleft()
            if not faces:
                del self._faces[track]  # the person left

    def _close(self, k: int, end: float) -> list[WindowJob]:
        start = self._bounds(k)[0]
        span = [f for f in self._frames if start <= f[1] < end]
        if not span:
            return []  # no frame at all (an outage): nothing to say about this window
        wall = span[-1][2]
        dropped = sum(f[3] for f in span[1:])
        people = []
        for track, faces in sorted(self._faces.items()):
            mine = {f.index: f for f in faces if start <= f.time < end}
            if mine:
                people.append((track, mine))
        if not people:
            window = Window(k, start, end, [TimedFrame(i, t) for i, t, _, _ in span])
            return [WindowJob(window, None, False, None, wall, dropped)]
        jobs = []
        for track, mine in people:
            # every frame of the span; only this person's face frames carry a box and a crop
            frames = [mine.get(i) or TimedFrame(i, t) for i, t, _, _ in span]
            window = Window(k, start, end, frames)
            face = window.has_face(self.min_face_fraction)
            clip = sample_clip(window, self.num_frames, self.sampling) if face else None
            jobs.append(WindowJob(window, track, face, clip, wall, dropped))
        return jobs

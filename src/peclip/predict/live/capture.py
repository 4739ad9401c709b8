"""Where live frames come from: a camera, a network stream or a file, read on its own thread.

:func:`resolve_source` says what a SOURCE string means (a camera index or ``/dev/videoN``, an URL
FFmpeg opens, or a file). :class:`Capture` decodes it on a background thread into a small queue of
at most ``capacity`` frames (about one window): when the consumer falls behind, the oldest frame is
dropped and counted, so the frames used are always the newest ones and memory stays bounded. A file
read without ``realtime`` is the exception: nothing is dropped, the reader waits for the consumer
(the pipeline then runs as fast as it can, like ``predict``). A network stream that drops is reopened
with exponential backoff when ``reconnect`` is on; stream time keeps increasing across reconnects.

Files are decoded by :func:`peclip.data.video.open_video`, the reader of ``predict``, so a file gives
the same frames and timestamps through both.
"""

from __future__ import annotations

import glob
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av

from peclip.data.video import DecodeReport, Frame, VideoReadError, open_video
from peclip.faces.options import FaceOptions
from peclip.predict.source import FaceFrameSource

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")

#: FFmpeg options for network streams: give up a read after 5 s (so that a dead stream is noticed)
_NETWORK_OPTIONS = {"rw_timeout": "5000000"}
_RTSP_OPTIONS = {"rtsp_transport": "tcp", "timeout": "5000000"}


@dataclass(frozen=True)
class SourceSpec:
    """What to open: ``kind`` is camera, stream or file; ``url`` and ``format`` go to ``av.open``."""

    kind: str
    url: str
    format: str | None = None
    options: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.url).name if self.kind == "file" else self.url


def camera_devices() -> list[str]:
    """The video capture devices present (``/dev/video*`` on Linux; empty elsewhere, where FFmpeg lists them)."""
    return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))


def _missing_camera(what: str) -> FileNotFoundError:
    devices = camera_devices()
    present = (f"cameras present: {', '.join(devices)}" if devices
               else "no camera devices (/dev/video*) exist on this machine")
    return FileNotFoundError(f"camera {what} not found; {present}")


def resolve_source(source: str) -> SourceSpec:
    """A SOURCE argument -> :class:`SourceSpec`; a missing camera or file raises FileNotFoundError."""
    text = str(source)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in NETWORK_SCHEMES:
        options = dict(_RTSP_OPTIONS) if scheme.startswith("rtsp") else dict(_NETWORK_OPTIONS)
        return SourceSpec("stream", text, None, options)
    if scheme and scheme != "file":
        raise ValueError(f"source {text!r}: unknown scheme {scheme!r}; use one of {', '.join(NETWORK_SCHEMES)}, "
                         "a camera index, /dev/videoN or a file")
    if scheme == "file":
        text = text.split("://", 1)[1]
    if text.isdigit() or text.startswith("/dev/video"):
        if sys.platform.startswith("linux"):
            device = f"/dev/video{text}" if text.isdigit() else text
            if not Path(device).exists():
                raise _missing_camera(device)
            return SourceSpec("camera", device, "v4l2")
        if sys.platform == "darwin" and text.isdigit():
            return SourceSpec("camera", text, "avfoundation", {"framerate": "30"})
        raise ValueError(f"camera {text!r}: on this platform pass the capture device the FFmpeg way, "
                         "e.g. 'video=NAME' with Windows dshow is not supported yet; use a file or a stream URL")
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"source {text} is neither an existing file, a camera (an index or /dev/videoN) "
                                f"nor a stream URL ({', '.join(s + '://' for s in NETWORK_SCHEMES[:5])}...)")
    return SourceSpec("file", str(path))


class _Connection:
    """One opened source: iterate ``(time, rgb)`` with times from 0 at its first frame."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self._video = None
        self._container = None
        if spec.kind == "file":
            self._video = open_video(spec.url)  # VideoReadError for an unreadable file
            self.fps = self._video.fps
            return
        try:
            self._container = av.open(spec.url, format=spec.format, options=spec.options, timeout=(10.0, 5.0))
        except (av.error.FFmpegError, OSError) as err:
            if spec.kind == "camera":
                devices = camera_devices()
                raise VideoReadError(f"cannot open camera {spec.url}: {err}; cameras present: "
                                     f"{', '.join(devices) or 'none'}") from err
            raise VideoReadError(f"cannot open stream {spec.url}: {err}") from err
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{spec.url} has no video stream")
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else 25.0

    def frames(self) -> Iterator[tuple[float, object]]:
        if self._video is not None:
            for frame in self._video:
                yield frame.time, frame.image
            return
        start = None
        for index, frame in enumerate(self._container.decode(video=0)):
            if frame.time is None:
                t = index / self.fps
            else:
                start = frame.time if start is None else start
                t = frame.time - start
            yield float(t), frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
        if self._container is not None:
            self._container.close()


_END = object()


class Capture:
    """Decode ``spec`` on a background thread into a bounded queue of :class:`peclip.data.video.Frame`.

    The source is opened in the constructor (so a missing camera or a bad URL fails at once);
    :meth:`start` starts reading. ``frames_in`` counts frames decoded, ``dropped`` those thrown away
    because the consumer was behind, ``reconnects`` the times a dropped stream was reopened.
    """

    def __init__(self, spec: SourceSpec, *, window: float, realtime: bool = False, reconnect: bool = False,
                 backoff: float = 0.5, max_backoff: float = 8.0):
        self.spec = spec
        self.realtime = realtime or spec.kind != "file"
        self.lossless = spec.kind == "file" and not realtime
        self.reconnect = reconnect and spec.kind != "file"
        self.backoff, self.max_backoff = backoff, max_backoff
        self._connection = _Connection(spec)
        self.fps = self._connection.fps
        # about one window of frames; memory is bounded by it whatever the stream length
        self.capacity = max(8, int(window * self.fps) + 1)
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peclip-live-capture", daemon=True)
        self.frames_in = 0
        self.dropped = 0
        self.reconnects = 0
        self.error: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- producer ----------------------------------------------------------------------------------
    def _put(self, item) -> None:
        with self._cond:
            if item is not _END:
                while self.lossless and len(self._queue) >= self.capacity and not self._stop.is_set():
                    self._cond.wait(0.1)
                if len(self._queue) >= self.capacity:
                    self._queue.popleft()
                    self.dropped += 1
            self._queue.append(item)
            self._cond.notify_all()

    def _run(self) -> None:
        index, offset, last_time = 0, 0.0, None
        last_wall = None
        connection = self._connection
        try:
            while not self._stop.is_set():
                start_wall = None
                try:
                    for t, image in connection.frames():
                        if self._stop.is_set():
                            break
                        stream_time = offset + t
                        if last_time is not None and stream_time < last_time:
                            stream_time = last_time  # never backwards (the face stage needs order)
                        if self.spec.kind == "file" and self.realtime:
                            # play at the file's own rate: frame t is due t seconds after the first
                            start_wall = start_wall if start_wall is not None else time.monotonic() - t
                            if self._stop.wait(max(0.0, start_wall + t - time.monotonic())):
                                break
                        last_time, last_wall = stream_time, time.monotonic()
                        self.frames_in += 1
                        self._put((Frame(index, stream_time, image), time.time()))
                        index += 1
                except (av.error.FFmpegError, VideoReadError, OSError) as err:
                    log.warning("%s: the stream failed after %d frames: %s", self.name, index, err)
                    self.error = str(err)
                finally:
                    connection.close()
                if self._stop.is_set() or not self.reconnect:
                    break
                connection = self._reopen()
                if connection is None:
                    break
                self.reconnects += 1
                # stream time goes on: the new connection starts where the old one stopped, plus the outage
                gap = time.monotonic() - last_wall if last_wall is not None else 0.0
                offset = (last_time or 0.0) + max(gap, 1.0 / self.fps)
        finally:
            self._put(_END)

    def _reopen(self) -> _Connection | None:
        delay = self.backoff
        while not self._stop.is_set():
            log.warning("%s ended or dropped; reopening in %.1f s (--reconnect)", self.name, delay)
            if self._stop.wait(delay):
                return None
            try:
                connection = _Connection(self.spec)
            except (VideoReadError, OSError) as err:
                log.info("%s: reopening failed: %s", self.name, err)
                delay = min(2 * delay, self.max_backoff)
                continue
            log.warning("%s: reconnected", self.name)
            return connection
        return None

    # -- consumer ----------------------------------------------------------------------------------
    def frames(self) -> Iterator[tuple[Frame, float]]:
        """``(frame, wall_time)`` in stream order until the source ends or :meth:`stop` is called."""
        while True:
            with self._cond:
                while not self._queue:
                    if self._stop.is_set():
                        return
                    self._cond.wait(0.1)
                item = self._queue.popleft()
                self._cond.notify_all()
            if item is _END:
                return
            yield item


class _Discard(list):
    """A per-frame log that keeps nothing (a live source may run for days)."""

    def append(self, item) -> None:
        pass


class LiveFeed:
    """The frames of a :class:`Capture` as the video that :class:`LiveFaceSource` tracks faces in.

    Frames are renumbered in the order the face stage reads them (the face stage's frame index); the
    capture wall time and the image of each frame are kept until :meth:`release` says it was used.
    """

    def __init__(self, capture: Capture):
        self.capture = capture
        self.fps = capture.fps
        self.num_frames = 0  # unknown: a live source has no length
        self.walls: dict[int, float] = {}
        self.images: dict[int, object] = {}
        self.dropped_before: dict[int, int] = {}  # frames the capture dropped just before this one
        self._count = 0
        self._last_capture_index = -1

    def __iter__(self) -> Iterator[Frame]:
        for frame, wall in self.capture.frames():
            index = self._count
            self._count += 1
            self.walls[index] = wall
            self.images[index] = frame.image
            self.dropped_before[index] = frame.index - self._last_capture_index - 1
            self._last_capture_index = frame.index
            yield Frame(index, frame.time, frame.image)

    def release(self, index: int) -> None:
        """Forget frames up to ``index`` (the face stage has handed them on)."""
        for i in [i for i in self.walls if i <= index]:
            del self.walls[i]
            self.images.pop(i, None)
            self.dropped_before.pop(i, None)

    def report(self) -> DecodeReport:
        """A live source promises no length: every frame that arrived was decoded (stream faults are the
        capture's business, with its reconnects and summary)."""
        return DecodeReport(self._count, None, 0, "", self.fps or 0.0)

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc) -> None:
        pass


class LiveFaceSource(FaceFrameSource):
    """``predict``'s face stage (:class:`~peclip.predict.source.FaceFrameSource`: the same tracker, held-frame
    rule and track ids) over a :class:`LiveFeed` instead of a file, keeping no per-frame log."""

    def __init__(self, feed: LiveFeed, size: int, detect_faces: bool = True, detector=None, face_options=None):
        # Not FaceFrameSource.__init__: there is no file to open; these are the attributes its __iter__ reads.
        self.path = Path(feed.capture.name)
        self.kind = "video"
        self.size = size
        self.detect_faces = detect_faces
        self.detector = detector
        self.face_options = face_options or FaceOptions()
        self.progress = False
        self._video = feed
        self.fps = feed.fps
        self.frames_read = 0
        self.frame_times = _Discard()
        self.frame_boxes = _Discard()
        self._last_time = 0.0

    def _emit(self, frame):
        return frame

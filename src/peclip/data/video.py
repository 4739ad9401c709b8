"""Reading clips: video files (PyAV, any container ffmpeg reads), frame folders and still images.

Every reader returns RGB ``uint8`` frames, ``(T, H, W, 3)``. Frame folders are sorted naturally
(``2.jpg`` before ``10.jpg``; identical to the official ``glob`` + ``sort`` for zero-padded names,
docs/spec.md 2.2) unless ``order="lexicographic"``. Video frames are turned upright by the stream's display
rotation (phone videos), as ffmpeg does.

- :func:`read_frames` decodes only what a clip needs: the listed images of a folder, or a video up to
  the last wanted frame, converting only the wanted frames to RGB;
- :func:`open_video` streams a whole video once (frame, index, timestamp in seconds, fps) for
  prediction over long videos. It knows what it expected: after the stream, :meth:`VideoStream.report`
  compares the frames decoded with the container's frame count (or its duration times the frame
  rate) and counts the packets that failed to decode in the middle of the file (they are skipped,
  not fatal), so a truncated or damaged file is reported as incomplete instead of passing as whole.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from peclip.data.formats import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"(\d+)")


class VideoReadError(RuntimeError):
    """A clip exists but cannot be read (corrupt, empty, no video stream)."""


class IncompleteVideoError(VideoReadError):
    """A video decoded only in part (truncated, or packets that failed to decode) where ``strict`` asks
    for whole videos."""


@dataclass(frozen=True)
class DecodeReport:
    """What one pass over a clip decoded, against what its container said it holds.

    ``frames_expected`` is the container's frame count (or duration x frame rate where it states no
    count; ``None`` when it states neither); ``decode_errors`` counts packets that failed to decode
    (skipped); ``complete`` is False when there were errors or fewer frames than expected (a few
    frames of slack: some containers hold packets that decode to no frame).
    """

    frames_decoded: int
    frames_expected: int | None
    decode_errors: int = 0
    first_error: str = ""
    fps: float = 0.0

    @property
    def complete(self) -> bool:
        return self.decode_errors == 0 and not self.short

    @property
    def short(self) -> bool:
        expected = self.frames_expected
        return expected is not None and self.frames_decoded < expected - max(3, expected // 100)

    def to_dict(self) -> dict:
        return {"complete": self.complete, "frames_decoded": self.frames_decoded,
                "frames_expected": self.frames_expected, "decode_errors": self.decode_errors}

    def describe(self) -> str:
        """One line saying what is missing (empty when the clip is complete)."""
        parts = []
        if self.short:
            seconds = (f" ({self.frames_decoded / self.fps:.1f} of {self.frames_expected / self.fps:.1f} s)"
                       if self.fps else "")
            why = "" if self.decode_errors else ": the file ends early (truncated or damaged)"
            parts.append(f"decoded {self.frames_decoded} of the {self.frames_expected} frames its container "
                         f"states{seconds}{why}")
        if self.decode_errors:
            parts.append(f"{self.decode_errors} packet(s) failed to decode and were skipped (first: "
                         f"{self.first_error})")
        return "; ".join(parts)


def natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: ``frame2`` < ``frame10``."""
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part) for part in _DIGITS.split(name) if part)


def list_frames(folder: str | os.PathLike, order: str = "natural") -> list[Path]:
    """The image files of a frame folder, in frame order (hidden files and non-images ignored)."""
    folder = Path(folder)
    names = [e.name for e in os.scandir(folder)
             if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in IMAGE_SUFFIXES]
    if order == "natural":
        names.sort(key=natural_key)
    elif order == "lexicographic":
        names.sort()
    else:
        raise ValueError(f"frame order {order!r} is not valid; choose natural or lexicographic")
    return [folder / n for n in names]


def clip_kind(path: str | os.PathLike) -> str:
    """``folder``, ``image`` or ``video`` (any other file is tried as a video)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise FileNotFoundError(f"clip {path} does not exist")
    return "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"


def load_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as RGB ``(H, W, 3)`` uint8 (PIL, converted to RGB as the official loader does)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise VideoReadError(f"cannot read image {path}: {err}") from err


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A still image as a one-frame clip ``(1, H, W, 3)``."""
    return load_image(path)[None]


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoReadError(f"cannot open video {path}: {err}") from err
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path} has no video stream")
    return container


def _to_rgb(frame: av.VideoFrame, autorotate: bool = True) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3)
    rotation = getattr(frame, "rotation", 0) or 0
    if autorotate and rotation:
        # Display rotation is counter-clockwise in degrees (ffmpeg's av_display_rotation_get); np.rot90
        # with positive k also turns counter-clockwise.
        rgb = np.ascontiguousarray(np.rot90(rgb, k=int(round(rotation / 90)) % 4))
    return rgb


def count_frames(path: str | os.PathLike, exact: bool = False, order: str = "natural") -> int:
    """Number of frames of a clip.

    Folders count their images, images count 1. For videos the default counts demuxed packets (fast,
    no decoding); a few containers hold packets that decode to no frame (e.g. 98 packets, 95 frames),
    and reads past the decoded end repeat the last frame. ``exact=True`` decodes the whole video.
    """
    path = Path(path)
    kind = clip_kind(path)
    if kind == "folder":
        return len(list_frames(path, order))
    if kind == "image":
        return 1
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        if exact:
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot read video {path}: {err}") from err
    finally:
        container.close()


def _stack(frames: list[np.ndarray], path: Path) -> np.ndarray:
    h, w = frames[0].shape[:2]
    if any(f.shape[:2] != (h, w) for f in frames):
        import cv2

        log.warning("%s: frames differ in size; resizing all to the first frame's %dx%d", path, w, h)
        frames = [f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                  for f in frames]
    return np.stack(frames)  # (T, H, W, 3)


def _read_video_frames(path: Path, indices: Sequence[int], autorotate: bool) -> np.ndarray:
    wanted = set(indices)
    last = max(wanted)
    got: dict[int, np.ndarray] = {}
    final: av.VideoFrame | None = None
    count = 0
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            count, final = index + 1, frame
            if index in wanted:
                got[index] = _to_rgb(frame, autorotate)  # only wanted frames are converted to RGB
            if index >= last:
                break
        if final is None:
            raise VideoReadError(f"video {path} decodes to no frames")
        if len(got) < len(wanted):
            # Indices past the decoded end (packet counts can exceed decoded frames): repeat the last
            # frame, as TSN's edge padding does (docs/spec.md 2.2).
            log.debug("%s: %d frames decoded, index %d asked; repeating the last frame", path, count, last)
            tail = _to_rgb(final, autorotate)
            for index in wanted - set(got):
                got[index] = tail
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot decode video {path} (after frame {count}): {err}") from err
    finally:
        container.close()
    return np.stack([got[i] for i in indices])  # (T, H, W, 3)


def read_frames(path: str | os.PathLike, indices: Sequence[int], order: str = "natural",
                autorotate: bool = True) -> np.ndarray:
    """Frames ``indices`` (0-based, repeats allowed, any order) of a clip as ``(T, H, W, 3)`` uint8 RGB.

    A frame folder opens only the listed images; an index past the end of a folder is an error (the
    folder holds fewer frames than its manifest says). A video is decoded up to the last wanted frame.
    A still image is a one-frame clip, so every index reads it.
    """
    path = Path(path)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError(f"no frame indices given for {path}")
    if min(indices) < 0:
        raise ValueError(f"negative frame index {min(indices)} for {path}")
    kind = clip_kind(path)
    if kind == "image":
        return np.repeat(read_image(path), len(indices), axis=0)
    if kind == "video":
        return _read_video_frames(path, indices, autorotate)
    files = list_frames(path, order)
    if not files:
        raise VideoReadError(f"frame folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    if max(indices) >= len(files):
        raise VideoReadError(f"frame {max(indices)} asked from {path}, which holds {len(files)} frames; "
                             "the manifest's frame count is larger than the folder (run `peclip scan`)")
    cache: dict[int, np.ndarray] = {}
    for i in indices:
        if i not in cache:
            cache[i] = load_image(files[i])
    return _stack([cache[i] for i in indices], path)


def read_all_frames(path: str | os.PathLike, order: str = "natural", autorotate: bool = True) -> np.ndarray:
    """Every frame of a clip, ``(N, H, W, 3)`` uint8 (for CSIM sampling; mind the memory on long videos)."""
    with open_video(path, order=order, autorotate=autorotate) as video:
        frames = [f.image for f in video]
    if not frames:
        raise VideoReadError(f"clip {path} has no frames")
    return _stack(frames, Path(path))


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the clip, its time in seconds from the start, RGB pixels."""

    index: int
    time: float
    image: np.ndarray


class VideoStream:
    """Iterate a clip once, frame by frame, with timestamps: ``with open_video(p) as v: for f in v: ...``.

    ``fps`` is the stream's average rate (``folder_fps`` for frame folders and images);
    ``num_frames`` is an estimate before decoding (container metadata or packet-free count: 0 when
    unknown). ``width``/``height`` are those of the stored frames (before display rotation).
    """

    def __init__(self, path: str | os.PathLike, folder_fps: float = 25.0, order: str = "natural",
                 autorotate: bool = True):
        self.path = Path(path)
        self.kind = clip_kind(self.path)
        self.autorotate = autorotate
        self._container = None
        self._files: list[Path] = []
        self.frames_decoded = 0
        self.decode_errors = 0
        self.first_error = ""
        if self.kind == "video":
            self._container = _open_container(self.path)
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or Fraction(folder_fps)
            self.fps = float(rate)
            self.num_frames = int(stream.frames or 0)
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
            self.frames_expected = self.num_frames or _frames_from_duration(self._container, stream, self.fps)
        else:
            self._files = list_frames(self.path, order) if self.kind == "folder" else [self.path]
            if not self._files:
                raise VideoReadError(f"frame folder {self.path} holds no images")
            self.fps = float(folder_fps)
            self.num_frames = len(self._files)
            self.frames_expected = self.num_frames
            with Image.open(self._files[0]) as img:
                self.width, self.height = img.size

    @property
    def duration(self) -> float:
        """Estimated length in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps if self.fps else 0.0

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            for index, file in enumerate(self._files):
                self.frames_decoded = index + 1
                yield Frame(index, index / self.fps, load_image(file))
            return
        stream = self._container.streams.video[0]
        start: float | None = None
        for frame in self._decode(stream):
            index = self.frames_decoded
            self.frames_decoded += 1
            if frame.time is None:
                t = index / self.fps
            else:
                start = frame.time if start is None else start
                t = frame.time - start
            yield Frame(index, float(t), _to_rgb(frame, self.autorotate))
        if self.frames_decoded == 0 and self.decode_errors:
            raise VideoReadError(f"cannot decode video {self.path}: no frame decoded ({self.first_error})")

    def _decode(self, stream) -> Iterator[av.VideoFrame]:
        """Decode packet by packet: a packet that fails to decode is counted and skipped (FFmpeg conceals
        the damage in the frames after it); a container that cannot be read further ends the stream,
        counted as an error too."""
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as err:
                self._count_error(f"demuxing stopped: {err}")
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                self._count_error(str(err))
                continue
            yield from frames

    def _count_error(self, message: str) -> None:
        self.decode_errors += 1
        if not self.first_error:
            self.first_error = f"after frame {self.frames_decoded}: {message}"
        log.debug("%s: decode error after frame %d: %s", self.path, self.frames_decoded, message)

    def report(self) -> DecodeReport:
        """What the pass so far decoded against what the container promised (see :class:`DecodeReport`)."""
        return DecodeReport(self.frames_decoded, self.frames_expected or None, self.decode_errors, self.first_error,
                            self.fps)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _frames_from_duration(container, stream, fps: float) -> int:
    """Frames a container promises when it states no frame count: its duration x the frame rate (0: unknown)."""
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    else:
        return 0
    return int(round(seconds * fps))


def open_video(path: str | os.PathLike, folder_fps: float = 25.0, order: str = "natural",
               autorotate: bool = True) -> VideoStream:
    """Open a video file, frame folder or image for streaming (see :class:`VideoStream`)."""
    return VideoStream(path, folder_fps=folder_fps, order=order, autorotate=autorotate)

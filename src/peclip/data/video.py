"""Reading clips: video files (PyAV, any container ffmpeg reads), frame folders and still images.

Every reader returns RGB ``uint8`` frames, ``(T, H, W, 3)``. Frame folders are sorted naturally
(``2.jpg`` before ``10.jpg``; identical to the official ``glob`` + ``sort`` for zero-padded names,
docs/spec.md 2.2) unless ``order="lexicographic"``. Video frames are turned upright by the stream's display
rotation (phone videos), as ffmpeg does.

- :func:`read_frames` decodes only what a clip needs: the listed images of a folder, or a video up to
  the last wanted frame, converting only the wanted frames to RGB;
- :func:`open_video` streams a whole video once (frame, index, timestamp in seconds, fps) for
  prediction over long videos.
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
        if self.kind == "video":
            self._container = _open_container(self.path)
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate or Fraction(folder_fps)
            self.fps = float(rate)
            self.num_frames = int(stream.frames or 0)
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
        else:
            self._files = list_frames(self.path, order) if self.kind == "folder" else [self.path]
            if not self._files:
                raise VideoReadError(f"frame folder {self.path} holds no images")
            self.fps = float(folder_fps)
            self.num_frames = len(self._files)
            with Image.open(self._files[0]) as img:
                self.width, self.height = img.size

    @property
    def duration(self) -> float:
        """Estimated length in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps if self.fps else 0.0

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            for index, file in enumerate(self._files):
                yield Frame(index, index / self.fps, load_image(file))
            return
        stream = self._container.streams.video[0]
        start: float | None = None
        try:
            for index, frame in enumerate(self._container.decode(stream)):
                if frame.time is None:
                    t = index / self.fps
                else:
                    start = frame.time if start is None else start
                    t = frame.time - start
                yield Frame(index, float(t), _to_rgb(frame, self.autorotate))
        except av.error.FFmpegError as err:
            raise VideoReadError(f"cannot decode video {self.path}: {err}") from err

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | os.PathLike, folder_fps: float = 25.0, order: str = "natural",
               autorotate: bool = True) -> VideoStream:
    """Open a video file, frame folder or image for streaming (see :class:`VideoStream`)."""
    return VideoStream(path, folder_fps=folder_fps, order=order, autorotate=autorotate)

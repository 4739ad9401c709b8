"""The overlay video: every input frame with each face's box, its track id and its current emotion drawn on it.

Written with PyAV, H.264 (``libx264``, preset ``veryfast``) where the FFmpeg build has it, else MPEG-4
part 2. The overlay has exactly as many frames as the input: frames are encoded one for one with
consecutive timestamps at the input's average frame rate. Each frame shows the label of the window
that speaks for its time (:func:`peclip.predict.windows.own_spans`), so the label changes where the
timeline changes.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: encoders tried in order
ENCODERS = ("libx264", "mpeg4")

_BOX_COLOUR = (40, 220, 40)  # RGB
_NO_FACE_COLOUR = (220, 60, 60)


def pick_encoder() -> str:
    """The first encoder of :data:`ENCODERS` that this PyAV build can write."""
    import av

    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            continue
        return name
    raise RuntimeError(f"this PyAV/FFmpeg build has none of the video encoders {', '.join(ENCODERS)}; "
                       "install the PyPI 'av' wheel, which bundles libx264")


class OverlayWriter:
    """Encode RGB frames ``(H, W, 3)`` uint8 into an MP4, one output frame per input frame."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float | None):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # yuv420p needs even sizes: odd frames get one replicated row/column (no resampling)
        self.width, self.height = width + width % 2, height + height % 2
        rate = Fraction(fps).limit_denominator(1001 * 1000) if fps and fps > 0 else Fraction(1)
        self.codec = pick_encoder()
        self._container = av.open(str(self.path), mode="w")
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            # x264's default preset ("medium") took 3x as long for a slightly smaller file here
            self._stream.options = {"preset": "veryfast"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        pad_h, pad_w = self.height - rgb.shape[0], self.width - rgb.shape[1]
        if pad_h or pad_w:
            rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode(None):  # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> OverlayWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def draw_frame(rgb: np.ndarray, faces, time: float) -> np.ndarray:
    """A copy of ``rgb`` with each face's box, track id and label drawn on it, and the time.

    ``faces`` is a list of ``(box (x0, y0, x1, y1), label or None, track id or None)``; no face draws
    "no face" in the corner.
    """
    import cv2

    out = np.ascontiguousarray(rgb).copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 600)
    thick = max(1, round(2 * scale))

    def text(words: str, at: tuple[int, int], size: float, colour) -> None:
        # dark outline first so that the text reads on any background
        cv2.putText(out, words, at, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(out, words, at, cv2.FONT_HERSHEY_SIMPLEX, size, colour, thick, cv2.LINE_AA)

    for box, label, track in faces:
        x0, y0, x1, y1 = (round(v) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), _BOX_COLOUR, thick)
        anchor = (max(0, x0), max(int(22 * scale), y0 - int(8 * scale)))
        who = f"#{track} " if track is not None else ""
        text(who + (label or "no prediction"), anchor, 0.8 * scale, _BOX_COLOUR if label else _NO_FACE_COLOUR)
    if not faces:
        text("no face", (int(10 * scale), int(30 * scale)), 0.8 * scale, _NO_FACE_COLOUR)
    text(f"{time:6.2f} s", (int(10 * scale), height - int(12 * scale)), 0.6 * scale, (255, 255, 255))
    return out

"""``PrepareOptions``: how ``peclip prepare`` finds faces and writes crops (no heavy imports: the CLI
reads these defaults for its ``--help``)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from peclip.faces.options import FaceOptions


@dataclass
class PrepareOptions(FaceOptions):
    """How faces are found (the :class:`~peclip.faces.FaceOptions` fields) and written (CLI flags of
    ``peclip prepare`` in brackets).

    ``size`` [--size] crop side in px; ``jpeg_quality``; ``report_duplicates`` [--report-duplicates]
    records near-identical consecutive crops of every track (CSIM >= ``duplicate_threshold``);
    ``min_track_seconds`` [--min-track-seconds] drops a face track shorter than this (a stray detection
    that was confirmed; no clip, no manifest row; reported) unless it covers the whole video (a short
    video or a frame folder of a few frames keeps its face; 0 keeps every track); ``force`` [--force]
    redoes complete videos; ``strict`` [--strict] skips a video that decodes only in part (truncated or
    damaged) instead of preparing what was decoded and marking it ``complete: false``.

    Every field but ``force`` and ``strict`` shapes the crops, so each is recorded in the video's track
    file (:meth:`output_settings`) and a later run reuses the video only when they all match.
    """

    size: int = 224
    jpeg_quality: int = 95
    report_duplicates: bool = False
    duplicate_threshold: float = 0.95
    min_track_seconds: float = 0.5
    force: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size < 16:
            raise ValueError(f"size={self.size} is too small for a face crop; use e.g. 224")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality} must be in 1..100")
        if not self.min_track_seconds >= 0:
            raise ValueError(f"min_track_seconds={self.min_track_seconds} must be >= 0 (0 keeps every face track)")

    def min_track_frames(self, fps: float, frames_total: int) -> int:
        """The fewest frames a kept track has at ``fps`` in a video of ``frames_total`` frames: ``min_track_seconds``
        rounded up, but never more than the whole video."""
        need = int(math.ceil(self.min_track_seconds * (fps or 25.0) - 1e-9))
        return max(1, min(need, frames_total))

    def output_settings(self) -> dict:
        """The settings that shape a video's crops (all fields but ``force`` and ``strict``)."""
        return {k: v for k, v in asdict(self).items() if k not in ("force", "strict")}

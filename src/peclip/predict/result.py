"""``PredictionResult``: the timeline of one video, its summary, and writers for CSV, JSON, PNG and MP4."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peclip.atomic import atomic_write_text
from peclip.predict.options import RANDOM_WEIGHTS_NOTE
from peclip.predict.plots import plot_timeline
from peclip.predict.source import write_overlay
from peclip.predict.timeline import summarize, timeline_records

FORMAT = "peclip-timeline/1"


@dataclass
class PredictionResult:
    """Per-window, per-person predictions for one video (or image).

    Arrays have one row per window and person (``tracks``; a window without a face has one row):
    ``starts``/``ends`` (s), ``face`` (bool), ``frames`` and
    ``face_frames`` (counts), ``probabilities`` ``(W, C)`` (NaN rows where ``face`` is False) and, when
    compound scores were asked for, ``compound`` ``(W, 7)``. ``frame_times`` and ``frame_boxes`` keep
    the timestamp and the ``(track, box)`` of each face of every video frame (for the overlay).
    """

    source: str
    class_names: list[str]
    starts: np.ndarray
    ends: np.ndarray
    face: np.ndarray
    tracks: list[int | None]
    frames: np.ndarray
    face_frames: np.ndarray
    probabilities: np.ndarray
    duration: float
    fps: float | None
    num_video_frames: int
    frame_times: list[float] = field(repr=False, default_factory=list)
    frame_boxes: list[list[tuple[int | None, tuple[float, float, float, float]]]] = field(repr=False,
                                                                                          default_factory=list)
    compound_names: list[str] = field(default_factory=list)
    compound: np.ndarray | None = None
    settings: dict = field(default_factory=dict)
    decode: dict = field(default_factory=dict)  # DecodeReport.to_dict() (+ "decode_warning" when incomplete)
    elapsed: float = 0.0  # seconds spent decoding, tracking and predicting

    # ------------------------------------------------------------------------------------- views

    @property
    def random_weights(self) -> bool:
        """True when the model that made this result had random (untrained) weights."""
        return bool(self.settings.get("random_weights", False))

    @property
    def complete(self) -> bool:
        """False when the video decoded only in part (see ``decode``: frames decoded / expected, errors)."""
        return bool(self.decode.get("complete", True))

    @property
    def has_face(self) -> bool:
        """True when at least one window has a face."""
        return bool(np.asarray(self.face).any())

    @property
    def timeline(self) -> list[dict]:
        """One flat record per window (see :mod:`peclip.predict.timeline`)."""
        return timeline_records(self.starts, self.ends, self.face, self.tracks, self.frames, self.face_frames,
                                self.probabilities, self.class_names, self.compound, self.compound_names)

    @property
    def summary(self) -> dict:
        """Dominant emotion and its share of the face time, overall and per face track."""
        return summarize(self.starts, self.ends, self.face, self.tracks, self.probabilities, self.class_names,
                         self.duration, self.compound, self.compound_names)

    @property
    def speed(self) -> float | None:
        """Seconds of video processed per second of wall time (None for a still image or no timing)."""
        return self.duration / self.elapsed if self.elapsed > 0 and self.duration > 0 else None

    def to_dataframe(self):
        """The timeline as a pandas DataFrame (NaN where a window has no face). Needs pandas."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or pip install 'peclip[pandas]'); "
                              "result.timeline gives the same rows as a list of dicts") from err
        return pd.DataFrame.from_records(self.timeline)

    def to_dict(self) -> dict:
        """Everything as JSON-ready data: metadata, settings, summary and timeline."""
        return {
            "format": FORMAT,
            **({"warning": RANDOM_WEIGHTS_NOTE} if self.random_weights else {}),
            "source": self.source,
            "duration": float(self.duration),
            "fps": self.fps,
            "frames": self.num_video_frames,
            "complete": self.complete,
            **{k: v for k, v in self.decode.items() if k != "complete"},
            "classes": list(self.class_names),
            "compounds": list(self.compound_names),
            "settings": dict(self.settings),
            "processing": {"seconds": self.elapsed, "video_seconds_per_second": self.speed},
            "summary": self.summary,
            "timeline": self.timeline,
        }

    # ----------------------------------------------------------------------------------- writers

    def to_csv(self, path: str | os.PathLike | None = None) -> str | Path:
        """The timeline as CSV (empty cells where a window has no face): the text, or the path written."""
        records = self.timeline
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]) if records else ["window"], lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
        return _emit(buffer.getvalue(), path)

    def to_json(self, path: str | os.PathLike | None = None, indent: int | None = 2) -> str | Path:
        """:meth:`to_dict` as JSON: the text, or the path written."""
        return _emit(json.dumps(self.to_dict(), indent=indent, allow_nan=False), path)

    def plot(self, path: str | os.PathLike | None = None):
        """The class probabilities over time, a panel per person (matplotlib Figure); written to ``path`` when given."""
        summary = self.summary
        dominant = (f"dominant: {summary['dominant']} ({100 * summary['dominant_share']:.0f} % of face time)"
                    if summary["dominant"] else "no face found")
        title = f"{Path(self.source).name}: {dominant}"
        return plot_timeline(self.starts, self.ends, self.face, self.probabilities, self.class_names, title, path,
                             warning=RANDOM_WEIGHTS_NOTE if self.random_weights else None, tracks=self.tracks)

    def write_overlay(self, path: str | os.PathLike, progress: bool = False) -> Path:
        """Write an MP4 of the source with the face box and current emotion on every frame."""
        return write_overlay(self, path, progress=progress)

    def save(self, directory: str | os.PathLike, stem: str | None = None, plot: bool = True,
             overlay: bool = False) -> dict[str, Path]:
        """Write ``<stem>.csv``, ``<stem>.json``, ``<stem>.png`` (and ``<stem>_overlay.mp4``) into ``directory``."""
        directory, stem, written = write_tables(self, directory, stem, plot)
        if overlay:
            written["overlay"] = self.write_overlay(directory / f"{stem}_overlay.mp4")
        return written


def write_tables(result, directory: str | os.PathLike, stem: str | None, plot: bool) -> tuple[Path, str, dict]:
    """``<stem>.csv``, ``<stem>.json`` and (with ``plot``) ``<stem>.png`` of a result (a video's timeline or
    a photo's faces: anything with ``source``, ``to_csv``, ``to_json`` and ``plot``) into ``directory``;
    returns the folder, the stem and what was written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(result.source).stem
    written = {"csv": result.to_csv(directory / f"{stem}.csv"), "json": result.to_json(directory / f"{stem}.json")}
    if plot:
        result.plot(directory / f"{stem}.png")
        written["png"] = directory / f"{stem}.png"
    return directory, stem, written


def _emit(text: str, path: str | os.PathLike | None) -> str | Path:
    if path is None:
        return text
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, text)

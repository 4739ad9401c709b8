"""What a live session says: a JSON line per scored window and person, and the running counts.

A line (``peclip-live/1``)::

    {"stream_time": 3.0, "start": 1.0, "end": 3.0, "window": 1, "wall_time": 1733022000.12, "track": 0,
     "face": true, "frames": 48, "face_frames": 48, "dropped": 0, "top": "happy", "top_probability": 0.61,
     "probabilities": {"happy": 0.61, ...}, "latency": 0.084}

``stream_time`` is the end of the window in seconds of stream time, ``wall_time`` the Unix time the
line was made, ``latency`` the seconds from the capture of the window's last frame to the line,
``dropped`` the frames the capture dropped inside the window (the face stage was behind).
A window of a person whose face covers too little of it (or of nobody) has ``face: false`` and no
probabilities. Lines are written and flushed one by one (a live log cannot be written atomically).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

FORMAT = "peclip-live/1"

log = logging.getLogger(__name__)


def window_record(job, probabilities: np.ndarray | None, class_names: list[str], now: float) -> dict:
    """The JSON line of one person's window (module docstring)."""
    window = job.window
    record = {"stream_time": window.end, "start": window.start, "end": window.end, "window": window.index,
              "wall_time": now, "track": job.track, "face": bool(job.face and probabilities is not None),
              "frames": len(window.frames), "face_frames": len(window.face_frames), "dropped": job.dropped,
              "top": None, "top_probability": None, "probabilities": None,
              "latency": (now - job.last_wall) if job.last_wall is not None else None}
    if record["face"]:
        c = int(np.argmax(probabilities))
        record.update(top=class_names[c], top_probability=float(probabilities[c]),
                      probabilities={name: float(p) for name, p in zip(class_names, probabilities, strict=True)})
    return record


class JsonlSink:
    """Write records as JSON lines to a file (``path``) or to stdout, flushed line by line."""

    def __init__(self, path: str | os.PathLike | None = None, stream=None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        else:
            self._out = stream or sys.stdout
        self._lock = threading.Lock()
        self.lines = 0

    def write(self, record: dict) -> None:
        text = json.dumps(record, allow_nan=False)
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()
            self.lines += 1

    def close(self) -> None:
        with self._lock:
            self._out.flush()
            if self.path is not None:
                self._out.close()


class LiveStats:
    """Counts, latencies and CPU time of a session; :meth:`summary` gives them as one dict."""

    def __init__(self):
        self.start_wall = time.monotonic()
        self._cpu0 = _cpu_seconds()
        self.frames_processed = 0
        self.windows_scored = 0
        self.windows_no_face = 0
        self.windows_skipped = 0
        self.people: set[int] = set()
        self.latencies: deque[float] = deque(maxlen=100_000)
        self.score_seconds: deque[float] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def add_record(self, record: dict, score_seconds: float | None = None) -> None:
        with self._lock:
            if record["face"]:
                self.windows_scored += 1
            else:
                self.windows_no_face += 1
            if record["track"] is not None:
                self.people.add(record["track"])
            if record["latency"] is not None:
                self.latencies.append(record["latency"])
            if score_seconds is not None:
                self.score_seconds.append(score_seconds)

    def summary(self, capture=None) -> dict:
        elapsed = time.monotonic() - self.start_wall
        cpu = _cpu_seconds() - self._cpu0
        with self._lock:
            latencies = np.asarray(self.latencies, dtype=float)
            scoring = np.asarray(self.score_seconds, dtype=float)
            out = {
                "elapsed": elapsed,
                "frames_in": capture.frames_in if capture else self.frames_processed,
                "frames_dropped": capture.dropped if capture else 0,
                "frames_processed": self.frames_processed,
                "windows_scored": self.windows_scored,
                "windows_no_face": self.windows_no_face,
                "windows_skipped": self.windows_skipped,
                "people": len(self.people),
                "latency_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
                "latency_p95": float(np.percentile(latencies, 95)) if latencies.size else None,
                "score_seconds_mean": float(scoring.mean()) if scoring.size else None,
                "fps": self.frames_processed / elapsed if elapsed > 0 else 0.0,
                "cpu_percent": 100.0 * cpu / elapsed if elapsed > 0 else 0.0,
                "reconnects": capture.reconnects if capture else 0,
            }
        return out


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def format_summary(summary: dict) -> str:
    """One line for people: the counts, latency percentiles, fps and CPU use."""
    def ms(value):
        return "-" if value is None else f"{1000 * value:.0f} ms"

    return (f"{summary['elapsed']:.1f} s: frames in {summary['frames_in']}, dropped {summary['frames_dropped']}, "
            f"windows scored {summary['windows_scored']}, no face {summary['windows_no_face']}, "
            f"skipped {summary['windows_skipped']}, latency p50 {ms(summary['latency_p50'])} "
            f"p95 {ms(summary['latency_p95'])}, {summary['fps']:.1f} fps, CPU {summary['cpu_percent']:.0f} %"
            + (f", reconnects {summary['reconnects']}" if summary["reconnects"] else ""))

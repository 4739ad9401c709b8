"""The class probabilities over time (a video: one panel per person) or per face (a still image) as a figure
(matplotlib, drawn off-screen with the Agg canvas)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peclip.atomic import atomic_write

#: panels drawn at most (one per person); further people are named in the last panel's title
MAX_PANELS = 6


def plot_timeline(starts: np.ndarray, ends: np.ndarray, face: np.ndarray, probabilities: np.ndarray,
                  class_names: list[str], title: str = "", path: str | os.PathLike | None = None,
                  warning: str | None = None, tracks=None):
    """A line per class at each window's centre, one panel per person (``tracks``, one id per row; up to
    :data:`MAX_PANELS`); times when that person is not seen are shaded grey.

    Returns the matplotlib ``Figure``; with ``path`` it is also written there (PNG by the suffix).
    The figure is not registered with pyplot, so nothing is shown and no global state changes.
    ``warning`` (e.g. random weights) is printed in red above the plot.
    """
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    face = np.asarray(face, dtype=bool)
    tracks = list(tracks) if tracks is not None else [0 if f else None for f in face]
    people = sorted({t for t, f in zip(tracks, face, strict=True) if f and t is not None})
    shown = people[:MAX_PANELS] or [None]
    fig = Figure(figsize=(10, 1.2 + 2.8 * len(shown)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    windows = list(dict.fromkeys(zip(starts.tolist(), ends.tolist(), strict=True)))
    end = max((e for _, e in windows), default=0.0)
    axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    for n, (ax, person) in enumerate(zip(axes, shown, strict=True)):
        mine = face & np.array([t == person for t in tracks], dtype=bool)
        seen = {(s, e) for s, e, m in zip(starts.tolist(), ends.tolist(), mine, strict=True) if m}
        for lo, hi in windows:
            if (lo, hi) not in seen:
                ax.axvspan(lo, hi, color="0.85", lw=0, zorder=0)
        rows = np.flatnonzero(mine)
        centres = (starts[rows] + ends[rows]) / 2  # (F,)
        for c, name in enumerate(class_names):
            ax.plot(centres, probabilities[rows, c], marker="o", ms=3, lw=1.5, label=name)
        ax.set_xlim(0, max(end, 1e-3))
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability" if person is None else f"person {person}")
        ax.grid(alpha=0.3)
        if n == 0:
            if len(seen) < len(windows):
                ax.plot([], [], color="0.85", lw=8, label="no face")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
            ax.set_title(title, fontsize="medium")
    if len(people) > MAX_PANELS:
        axes[-1].set_title(f"{len(people) - MAX_PANELS} more people not drawn: see the CSV", fontsize="small")
    axes[-1].set_xlabel("time (s)")
    if warning:
        fig.suptitle(warning.upper(), color="red", fontweight="bold")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    return fig


def plot_face_bars(probabilities: np.ndarray, class_names: list[str], face_labels: list[str], title: str = "",
                   path: str | os.PathLike | None = None, warning: str | None = None):
    """The class probabilities of a still image as bars: one group per class, one bar per face.

    ``probabilities`` is ``(F, C)``; an image has no time axis, so this replaces the timeline. Returns
    the matplotlib ``Figure`` (written to ``path`` when given). With no face, the plot says so.
    """
    probabilities = np.asarray(probabilities, dtype=float).reshape(-1, len(class_names))  # (F, C)
    faces = probabilities.shape[0]
    fig = Figure(figsize=(max(6.0, 1.0 + 0.6 * len(class_names) * max(1, min(faces, 4))), 4), dpi=100,
                 layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = np.arange(len(class_names))
    width = 0.8 / max(1, faces)
    for f in range(faces):
        offset = (f - (faces - 1) / 2) * width
        ax.bar(positions + offset, probabilities[f], width=width, label=face_labels[f])
    if faces == 0:
        ax.text(0.5, 0.5, "no face found", transform=ax.transAxes, ha="center", va="center", fontsize="large")
    ax.set_xticks(positions, class_names, rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    if faces:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(title, fontsize="medium")
    if warning:
        fig.suptitle(warning.upper(), color="red", fontweight="bold")
    ax.grid(alpha=0.3, axis="y")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    return fig

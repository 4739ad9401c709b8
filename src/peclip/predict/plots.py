"""The class probabilities over time, one panel per person (matplotlib, drawn off-screen with the Agg canvas)."""

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

"""Figures of explanations and embeddings (matplotlib, drawn off-screen with the Agg canvas, no pyplot state)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peclip.atomic import atomic_write


def _figure(width: float, height: float, dpi: int = 100):
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike | None):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png"))
    return fig


def plot_window_explanation(window, title: str = "", path: str | os.PathLike | None = None, dpi: int = 60):
    """One window: the ``T`` face crops, their rollout and class maps, the TDA scale (blocks x frames)
    and each frame's similarity to the class text. Returns the Figure (written to ``path`` if given)."""
    e = window.explanation
    crops, num_frames = window.crops, len(window.crops)
    has_tda = e.tda_scale is not None
    rows = 3
    fig = _figure(max(8.0, 0.95 * num_frames), 0.95 * rows + (2.6 if has_tda else 1.6), dpi)
    grid = fig.add_gridspec(rows + 2, num_frames, height_ratios=[1] * rows + ([1.3, 1.0] if has_tda else [0.01, 1.0]))
    size = crops.shape[1]
    labels = ("face", "rollout", e.settings.get("method", "class map"))
    for t in range(num_frames):
        for r, (label, heat) in enumerate(zip(labels, (None, e.rollout[t], e.class_map[t]), strict=True)):
            ax = fig.add_subplot(grid[r, t])
            ax.imshow(crops[t], extent=(0, size, size, 0))
            if heat is not None:
                # colours from each map's own minimum to its maximum (a uniform map stays blue)
                low, high = float(heat.min()), float(heat.max())
                ax.imshow(heat, cmap="jet", alpha=0.5, extent=(0, size, size, 0), interpolation="bilinear",
                          vmin=low, vmax=high if high > low + 1e-9 else low + 1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(label, fontsize=7)
            if r == 0:
                ax.set_title(f"{window.frame_times[t]:.2f}s", fontsize=7)
    if has_tda:
        ax = fig.add_subplot(grid[rows, :])
        image = ax.imshow(e.tda_scale, aspect="auto", cmap="magma", interpolation="nearest")
        ax.set_yticks(range(len(e.tda_blocks)), labels=[str(b) for b in e.tda_blocks], fontsize=6)
        ax.set_xticks(range(num_frames), labels=[str(t) for t in range(num_frames)], fontsize=6)
        ax.set_ylabel("block", fontsize=7)
        ax.set_title("TDA dynamic scale s of the class token (which frames the temporal adapter amplified)",
                     fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    ax = fig.add_subplot(grid[rows + 1, :])
    ax.plot(range(num_frames), e.frame_similarity, marker="o", ms=3)
    ax.set_xlim(-0.5, num_frames - 0.5)
    ax.set_xticks(range(num_frames), labels=[str(t) for t in range(num_frames)], fontsize=6)
    ax.set_xlabel("frame", fontsize=7)
    ax.set_ylabel("cosine", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(f"similarity of each frame embedding to the text of '{e.class_name}'", fontsize=8)
    ax.grid(alpha=0.3)
    track = f", face track {window.track}" if window.track is not None else ""
    fig.suptitle(f"{title}\nwindow {window.index} ({window.start:.1f}-{window.end:.1f} s{track}): {e.class_name} "
                 f"p={e.probability:.2f} (top: {e.predicted})", fontsize=9)
    return _save(fig, path)


def plot_embedding_map(points: np.ndarray, labels: Sequence[int], class_names: Sequence[str],
                       class_points: np.ndarray | None = None, title: str = "",
                       path: str | os.PathLike | None = None):
    """A 2-D map of video embeddings ``(N, 2)`` coloured by label, with the class texts ``(C, 2)`` as stars."""
    fig = _figure(7.5, 6.0, 110)
    ax = fig.add_subplot()
    labels = np.asarray(labels)
    cmap = _class_colours(len(class_names))
    for c, name in enumerate(class_names):
        chosen = labels == c
        if chosen.any():
            ax.scatter(points[chosen, 0], points[chosen, 1], s=14, color=cmap[c], label=name, alpha=0.8)
    unlabelled = labels < 0
    if unlabelled.any():
        ax.scatter(points[unlabelled, 0], points[unlabelled, 1], s=14, color="0.6", label="no label", alpha=0.8)
    if class_points is not None:
        for c, name in enumerate(class_names):
            ax.scatter(*class_points[c], marker="*", s=220, color=cmap[c], edgecolors="black", linewidths=0.8)
            ax.annotate(f"text: {name}", class_points[c], fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _class_colours(n: int) -> list:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]

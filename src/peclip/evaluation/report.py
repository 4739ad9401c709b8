"""Evaluation reports (docs/spec.md 4.3): metrics, per-class recall, confusion matrix, predictions.

A report folder holds ``metrics.json`` (UAR, WAR, loss, the model selection that produced the model),
``per_class.csv`` and ``per_class_recall.png``, ``confusion.csv`` and ``confusion.png`` (counts and
row-normalised; rows = true class), and ``predictions.csv``
(one row per clip: path, target, prediction, class probabilities).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peclip.atomic import atomic_write
from peclip.evaluation.loop import EvalOutput

SELECTION_TEXT = {
    "last": "selection: last epoch",
    "val": "selection: best epoch on a validation split carved from train",
    "test": "selection: best epoch on the test set (official protocol; optimistic)",
    "checkpoint": "selection: the given checkpoint",
}


def describe(metrics: dict, selection: str, epoch: int | None = None) -> str:
    """``UAR 62.82  WAR 74.04  (selection: last epoch, epoch 30)``: every number with its selection."""
    where = SELECTION_TEXT.get(selection, f"selection: {selection}")
    if epoch is not None:
        where += f", epoch {epoch}"
    return f"UAR {metrics['uar']:6.2f}  WAR {metrics['war']:6.2f}  ({where}; {metrics['num_samples']} clips)"


def write_confusion_png(path: Path, confusion: np.ndarray, class_names: Sequence[str], title: str) -> None:
    """The confusion matrix twice, as a PNG: counts, and row-normalised (share of each true class)."""
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, dtype=float), where=rows > 0)
    n = len(class_names)
    side = max(4.5, 1.5 + 0.75 * n)
    fig = Figure(figsize=(2 * side + 2.0, side + 0.4))
    FigureCanvasAgg(fig)
    panels = ((confusion, "counts", "Oranges", None, "{:d}"), (share, "row-normalised", "Blues", 1.0, "{:.2f}"))
    for k, (values, name, cmap, vmax, fmt) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        top = float(values.max()) if vmax is None else vmax
        image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=max(top, 1e-9))
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04,
                     label="clips" if vmax is None else "share of the true class")
        ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
        ax.set_yticks(range(n), labels=class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name, fontsize=9)
        for i in range(n):
            for j in range(n):
                value = int(values[i, j]) if vmax is None else float(values[i, j])
                ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7,
                        color="white" if values[i, j] > 0.5 * top else "black")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110))


def write_recall_png(path: Path, recall: Sequence[float], support: Sequence[int], class_names: Sequence[str],
                     title: str) -> None:
    """Per-class recall (%) as bars, with each class's clip count; UAR (their mean) as a line."""
    values = np.asarray(recall, dtype=float)
    n = len(class_names)
    fig = Figure(figsize=(max(5.0, 1.2 + 0.7 * n), 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    drawn = np.nan_to_num(values, nan=0.0)
    ax.bar(range(n), drawn, color="tab:blue")
    for i, (value, count) in enumerate(zip(values, support, strict=False)):
        text = "n/a" if np.isnan(value) else f"{value:.1f}"
        ax.text(i, drawn[i] + 1.5, f"{text}\n({int(count)})", ha="center", va="bottom", fontsize=7)
    if np.isfinite(values).any():
        ax.axhline(float(np.nanmean(values)), color="tab:red", lw=1, ls="--", label="UAR (mean recall)")
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
    ax.set_ylim(0, 115)
    ax.set_ylabel("recall (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=110))


def write_report(out_dir: str | os.PathLike, output: EvalOutput, class_names: Sequence[str],
                 info: dict | None = None, paths: Sequence[str] | None = None) -> Path:
    """Write the evaluation files of ``output`` into ``out_dir``; ``info`` joins metrics.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = output.result
    names = list(class_names)
    if len(names) < result.confusion.shape[0]:
        names += [f"class_{i}" for i in range(len(names), result.confusion.shape[0])]
    metrics = {**(info or {}), "loss": output.loss, **result.summary(),
               "per_class_recall": dict(zip(names, result.per_class_recall, strict=False))}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default))
    with open(out / "per_class.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["class", "recall", "support"])
        for name, recall, support in zip(names, result.per_class_recall, result.support, strict=False):
            writer.writerow([name, "" if np.isnan(recall) else f"{recall:.4f}", support])
    with open(out / "confusion.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, result.confusion, strict=False):
            writer.writerow([name, *(int(v) for v in row)])
    probs = torch.from_numpy(output.logits).softmax(dim=1).numpy()
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["index", "path", "target", "prediction", *(f"p_{n}" for n in names[:probs.shape[1]])])
        for row, index in enumerate(output.indices):
            path = paths[index] if paths is not None else ""
            writer.writerow([int(index), path, int(output.targets[row]), int(output.preds[row]),
                             *(f"{p:.5f}" for p in probs[row])])
    selection = (info or {}).get("selection", "checkpoint")
    epoch = (info or {}).get("epoch")
    title = (f"UAR {result.uar:.2f}  WAR {result.war:.2f}  ({result.num_samples} clips)\n"
             f"{SELECTION_TEXT.get(selection, selection)}{f', epoch {epoch}' if epoch is not None else ''}")
    write_confusion_png(out / "confusion.png", result.confusion, names, title)
    write_recall_png(out / "per_class_recall.png", result.per_class_recall, result.support, names, title)
    return out


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

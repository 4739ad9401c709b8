"""Evaluation reports and evaluating a saved model on any dataset or manifest (SPEC.md 4.3).

A report folder holds ``metrics.json`` (UAR, WAR, loss, the model selection that produced the model),
``per_class.csv``, ``confusion.csv`` and ``confusion.png`` (rows = true class), and ``predictions.csv``
(one row per clip: path, target, prediction, class probabilities).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from peclip.data.video import VideoReadError, count_frames
from peclip.engine import EvalOutput

log = logging.getLogger(__name__)

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
    """Row-normalised confusion matrix as a PNG (counts in each cell); no global pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, dtype=float), where=rows > 0)
    n = len(class_names)
    side = max(4.5, 1.5 + 0.75 * n)
    fig = Figure(figsize=(side + 1.0, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(confusion[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


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
    return out


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ------------------------------------------------------------------------------------ saved models

@dataclass
class EvalRequest:
    """What ``peclip eval`` evaluates: a data config (dataset or manifest), split, fold, batching."""

    data: object  # DataConfig
    split: str = "test"
    fold: int | None = None
    batch_size: int = 8
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True


def check_compatible(model, data_cfg) -> None:
    """The data pipeline must produce what the model expects (size, normalisation done once)."""
    size = model.preprocess.size
    if data_cfg.image_size != size:
        raise ValueError(f"data.image_size={data_cfg.image_size} but the model takes {size}x{size} frames; "
                         f"set data.image_size={size}")
    if data_cfg.normalize and model.config.normalize_input:
        raise ValueError("both data.normalize and the model's normalize_input are on, which would normalise "
                         "twice; set data.normalize=false (the model normalises its input itself)")


def check_labels(items, num_classes: int, where: str) -> None:
    labels = [i.label for i in items]
    bad = sorted({y for y in labels if y >= num_classes})
    if bad:
        raise ValueError(f"{where} has labels {bad} but the model has {num_classes} classes; the dataset's "
                         "label set does not match the model's (e.g. MAFW's 11 classes on a 7-class model)")


def evaluate_model(model, request: EvalRequest, dist_info=None, desc: str = "eval"):
    """Evaluate ``model`` on ``request``'s split; returns ``(EvalOutput, items)``."""
    from peclip.data.dataset import ClipDataset, build_dataloader, load_dataset_items
    from peclip.engine import evaluate, resolve_precision
    from peclip.train.distributed import DistInfo, ShardSampler, on_main, pick_device

    info = dist_info or DistInfo(device=pick_device(request.device))
    cfg = request.data
    check_compatible(model, cfg)
    items = on_main(lambda: load_dataset_items(cfg, request.split, request.fold, progress=request.progress), info)
    check_labels(items, model.config.num_classes, f"the {request.split} split")
    dataset = ClipDataset(items, cfg, train=False, seed=0)
    sampler = ShardSampler(len(dataset), info.rank, info.world_size)
    loader = build_dataloader(dataset, request.batch_size, train=False, sampler=sampler)
    model.to(info.device)
    precision = resolve_precision(request.precision, info.device)
    output = evaluate(model, loader, device=info.device, precision=precision, num_classes=model.config.num_classes,
                      dist_info=info, progress=request.progress, desc=desc)
    return output, items


def data_config_for(model, base=None, **changes):
    """A DataConfig for evaluating ``model``: ``base`` (e.g. the run's) or a fresh one, with the model's frame
    size and normalisation, then ``changes``."""
    from peclip.data.config import DataConfig

    fixed = {"image_size": model.preprocess.size}
    if model.config.normalize_input:
        fixed["normalize"] = False
    if base is None:
        return DataConfig(**{"num_frames": model.preprocess.num_frames, **fixed, **changes})
    return replace(base, **{**fixed, **changes})


# --------------------------------------------------------------------------- expected numbers and gaps

def compare_expected(metrics: dict, expected) -> dict:
    """The run's UAR/WAR beside a recipe's ``expected`` numbers (:class:`~peclip.train.config.ExpectedSection`)."""
    out = {"source": expected.source, "protocol": expected.protocol, "selection": expected.selection}
    for name in ("uar", "war"):
        want = getattr(expected, name)
        out[name] = {"run": float(metrics[name]), "expected": want,
                     "diff": None if want is None else round(float(metrics[name]) - want, 2)}
    return out


def format_expected(comparison: dict) -> list[str]:
    lines = [f"expected numbers ({comparison['source']}):"]
    if all(comparison[n]["expected"] is None for n in ("uar", "war")):
        return lines + ["  none published to compare with"]
    for name in ("uar", "war"):
        row = comparison[name]
        if row["expected"] is None:
            lines.append(f"  {name.upper()} {row['run']:6.2f}  expected   none")
        else:
            lines.append(f"  {name.upper()} {row['run']:6.2f}  expected {row['expected']:6.2f}  "
                         f"diff {row['diff']:+6.2f}")
    if comparison["protocol"]:
        lines.append(f"  protocol of the expected numbers: {comparison['protocol']}")
    return lines


def gap_checks(items: Sequence, class_names: Sequence[str], selection: str, frames_sampled: int,
               expected_selection: str | None = None, limit: int = 200) -> list[str]:
    """The checks that most often explain a gap to published numbers, as lines to print.

    Frames per clip as the annotation states them against what is on disk (up to ``limit`` clips,
    evenly spread), classes without a test clip (their recall is undefined and UAR averages the
    others), and the model selection that produced the numbers.
    """
    lines = []
    spread = np.linspace(0, len(items) - 1, limit, dtype=int)
    picked = list(items) if len(items) <= limit else [items[i] for i in spread]
    stated, on_disk, differ, unreadable = [], [], [], 0
    for item in picked:
        try:
            n = count_frames(item.path)
        except (OSError, VideoReadError):
            unreadable += 1
            continue
        on_disk.append(n)
        if item.num_frames is not None:
            stated.append(item.num_frames)
            if item.num_frames != n:
                differ.append(f"{Path(item.path).name}: {item.num_frames} listed, {n} on disk")
    where = f"{len(picked)} of {len(items)} clips" if len(picked) < len(items) else f"all {len(items)} clips"
    if on_disk:
        disk = f"median {int(np.median(on_disk))} on disk (min {min(on_disk)}, max {max(on_disk)})"
        if stated:
            lines.append(f"frames per clip ({where}): median {int(np.median(stated))} in the annotation, {disk}; "
                         f"{len(differ)} clips differ{' (e.g. ' + '; '.join(differ[:3]) + ')' if differ else ''}")
        else:
            lines.append(f"frames per clip ({where}): the annotation states none; {disk}")
        short = sum(1 for n in on_disk if n < frames_sampled)
        if short:
            lines.append(f"  {short} clips have fewer than the {frames_sampled} frames sampled per clip (edge-padded)")
    if unreadable:
        lines.append(f"  {unreadable} clips could not be counted (missing or unreadable); run peclip scan")
    present = {i.label for i in items}
    absent = [name for index, name in enumerate(class_names) if index not in present]
    lines.append(f"classes with no test clip: {', '.join(absent)} (UAR averages the others)" if absent
                 else f"classes with no test clip: none (all {len(class_names)} present)")
    used = SELECTION_TEXT.get(selection, f"selection: {selection}")
    if expected_selection is not None and expected_selection != selection:
        used += (f"; the expected numbers used {SELECTION_TEXT[expected_selection].removeprefix('selection: ')}"
                 + (", which is optimistic: expect this run lower" if expected_selection == "test" else ""))
    lines.append(used)
    return lines

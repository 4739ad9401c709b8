"""Cross-validation: train every fold in sequence, resumably, and summarise (docs/spec.md 4.1, 4.3, 10 A3).

``runs/<name>/`` holds ``folds.yaml`` (the recipe and the folds), one run folder per fold
(``fold1/``, ...), and ``summary.csv`` / ``summary.md``: per-fold UAR/WAR and their mean +- standard
deviation (sample std, ddof=1), for the selected model and for the last epoch. Running again with
``--resume`` skips finished folds and continues an interrupted one from its last checkpoint.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from peclip import distributed
from peclip.data.specs import get_dataset_spec
from peclip.evaluation.report import SELECTION_TEXT
from peclip.train.config import Recipe, load_recipe, recipe_from_dict
from peclip.train.run import RunFolder
from peclip.train.trainer import train

log = logging.getLogger(__name__)

FOLDS_YAML = "folds.yaml"


def parse_folds(text: str, recipe: Recipe) -> list[int]:
    """``all`` (the dataset's folds) or a comma list such as ``1,3``."""
    known = () if recipe.data.dataset == "custom" else get_dataset_spec(recipe.data.dataset).folds
    if text == "all":
        if not known:
            raise ValueError(f"--folds all: dataset {recipe.data.dataset!r} has no named folds; list them, "
                             "e.g. --folds 1,2,3 (the fold column of your manifest)")
        return list(known)
    try:
        folds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--folds {text!r} must be 'all' or comma-separated fold numbers such as 1,2,3") from None
    bad = [f for f in folds if known and f not in known]
    if not folds or bad:
        raise ValueError(f"--folds {text!r}: {recipe.data.dataset} folds are {', '.join(map(str, known))}")
    if len(set(folds)) != len(folds):
        raise ValueError(f"--folds {text!r} repeats a fold")
    return folds


def is_multi_fold(path: str | os.PathLike) -> bool:
    return (Path(path) / FOLDS_YAML).is_file()


@dataclass
class FoldsResult:
    run_dir: Path
    selection: str
    rows: list[dict]  # one per fold: fold, uar, war (selected), last_uar, last_war, epoch
    summary: dict  # mean/std of each column
    table: str  # Markdown


def train_folds(recipe: Recipe, folds: list[int], run_dir: str | os.PathLike, resume: bool = False,
                dist_info: distributed.DistInfo | None = None) -> FoldsResult:
    """Train ``recipe`` on each fold in turn into ``run_dir/fold<k>``; finished folds are skipped on resume."""
    info = dist_info or distributed.setup(recipe.train.device)
    run_dir = Path(run_dir)
    marker = run_dir / FOLDS_YAML
    exists = distributed.broadcast_object(marker.is_file(), info)
    if exists and not resume:
        raise ValueError(f"{run_dir} already holds a cross-validation run; continue it with --resume {run_dir} "
                         "or choose another name")
    if info.is_main and not exists:
        run_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(yaml.safe_dump({"folds": folds, "recipe": recipe.to_dict()}, sort_keys=False))
    distributed.barrier(info)
    try:
        for fold in folds:
            fold_recipe = recipe.with_overrides({"data.fold": fold})
            fold_dir = run_dir / f"fold{fold}"
            folder = RunFolder(fold_dir, writer=False)
            # rank 0's view, so that every process takes the same branch
            finished, started = distributed.broadcast_object((folder.is_finished(), folder.has_started()), info)
            if finished:
                log.info("fold %d: finished earlier (%s), skipping", fold, fold_dir)
                continue
            log.info("fold %d of %s: %s", fold, ", ".join(map(str, folds)), fold_dir)
            if started:
                train(load_recipe(fold_dir / "config.yaml"), fold_dir, resume=True, dist_info=info)
            else:
                train(fold_recipe, fold_dir, resume=False, dist_info=info)
        distributed.barrier(info)
        return distributed.on_main(lambda: summarize(run_dir, folds, recipe.train.selection), info)
    finally:
        if dist_info is None:
            distributed.cleanup(info)


def resume_folds(run_dir: str | os.PathLike, overrides: dict | None = None,
                 dist_info: distributed.DistInfo | None = None) -> FoldsResult:
    """Continue the cross-validation run in ``run_dir`` (``folds.yaml``)."""
    data = yaml.safe_load((Path(run_dir) / FOLDS_YAML).read_text())
    recipe = recipe_from_dict(data["recipe"], data["recipe"].get("name", "custom"))
    if overrides:
        recipe = recipe.with_overrides(overrides)
    return train_folds(recipe, [int(f) for f in data["folds"]], run_dir, resume=True, dist_info=dist_info)


def summarize(run_dir: str | os.PathLike, folds: list[int], selection: str, write: bool = True) -> FoldsResult:
    """Per-fold and mean +- std UAR/WAR from each fold's ``results.json``; writes summary.csv and summary.md."""
    run_dir = Path(run_dir)
    rows = []
    for fold in folds:
        folder = RunFolder(run_dir / f"fold{fold}", writer=False)
        if not folder.is_finished():
            raise RuntimeError(f"fold {fold} has no results ({folder.path / 'results.json'} is missing)")
        res = folder.read_results()
        rows.append({"fold": fold, "epoch": res["selected"]["epoch"], "uar": res["selected"]["uar"],
                     "war": res["selected"]["war"], "last_uar": res["last"]["uar"], "last_war": res["last"]["war"]})
    columns = ["uar", "war", "last_uar", "last_war"]
    summary = {}
    for c in columns:
        values = np.array([r[c] for r in rows], dtype=float)
        summary[c] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    lines = [f"Cross-validation over folds {', '.join(map(str, folds))} ({SELECTION_TEXT[selection]}); "
             "UAR/WAR in %, std = sample standard deviation over folds", "",
             "| fold | epoch | UAR | WAR | last-epoch UAR | last-epoch WAR |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['fold']} | {r['epoch']} | {r['uar']:.2f} | {r['war']:.2f} | {r['last_uar']:.2f} | "
                     f"{r['last_war']:.2f} |")
    lines.append("| mean +- std | | " + " | ".join(f"{summary[c]['mean']:.2f} +- {summary[c]['std']:.2f}"
                                                  for c in columns) + " |")
    table = "\n".join(lines) + "\n"
    if write:
        (run_dir / "summary.md").write_text(table)
        with open(run_dir / "summary.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["fold", "epoch", *columns])
            for r in rows:
                writer.writerow([r["fold"], r["epoch"], *(f"{r[c]:.4f}" for c in columns)])
            writer.writerow(["mean", "", *(f"{summary[c]['mean']:.4f}" for c in columns)])
            writer.writerow(["std", "", *(f"{summary[c]['std']:.4f}" for c in columns)])
    return FoldsResult(run_dir, selection, rows, summary, table)

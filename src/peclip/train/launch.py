"""Start or resume training as the ``peclip train`` command does: one run or every fold, under DDP when
launched by ``torchrun``. Returns the lines to print, so the command stays a thin wrapper."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from peclip import distributed
from peclip.evaluation.report import describe
from peclip.layout import CONFIG_YAML
from peclip.train.config import dump_recipe, load_recipe
from peclip.train.folds import FOLDS_YAML, is_multi_fold, parse_folds, resume_folds, train_folds
from peclip.train.run import RunFolder
from peclip.train.trainer import TrainResult, default_run_dir, train

log = logging.getLogger(__name__)


@dataclass
class LaunchResult:
    run_dir: Path
    lines: list[str]  # what the main process prints; empty on the other ranks


def start(recipe_name: str, overrides: dict, folds: str | None = None) -> LaunchResult:
    """Train recipe ``recipe_name`` (built-in name or YAML path) with dotted ``overrides``; ``folds`` is
    ``all`` or ``1,2,..`` for cross-validation."""
    recipe = load_recipe(recipe_name, overrides)
    info = distributed.setup(recipe.train.device)
    _quiet_other_ranks(info)
    try:
        run_dir = distributed.broadcast_object(default_run_dir(recipe), info)
        if folds:
            result = train_folds(recipe, parse_folds(folds, recipe), run_dir, dist_info=info)
            lines = [result.table.rstrip("\n"), f"run folder: {result.run_dir}"] if info.is_main else []
            return LaunchResult(result.run_dir, lines)
        return _report(train(recipe, run_dir, dist_info=info), info)
    finally:
        distributed.cleanup(info)


def resume(run_dir: str | Path, overrides: dict) -> LaunchResult:
    """Continue the run (or cross-validation) in ``run_dir`` from its last checkpoint; ``overrides`` change
    settings on the way (logged, and written into the run's config.yaml)."""
    run_dir = Path(run_dir)
    if is_multi_fold(run_dir):
        recorded = yaml.safe_load((run_dir / FOLDS_YAML).read_text())["recipe"]
        info = distributed.setup(overrides.get("train.device", (recorded.get("train") or {}).get("device", "auto")))
        _quiet_other_ranks(info)
        try:
            result = resume_folds(run_dir, overrides, dist_info=info)
            return LaunchResult(run_dir, [result.table.rstrip("\n")] if info.is_main else [])
        finally:
            distributed.cleanup(info)
    if not (run_dir / CONFIG_YAML).is_file():
        raise FileNotFoundError(f"--resume {run_dir}: not a run folder ({CONFIG_YAML} is missing)")
    recipe = load_recipe(run_dir / CONFIG_YAML, overrides)
    if overrides:
        log.warning("resuming %s with changed settings: %s", run_dir, overrides)
    info = distributed.setup(recipe.train.device)
    _quiet_other_ranks(info)
    try:
        if overrides and info.is_main:
            RunFolder(run_dir).write_config(dump_recipe(recipe))
        return _report(train(recipe, run_dir, resume=True, dist_info=info), info)
    finally:
        distributed.cleanup(info)


def _quiet_other_ranks(info: distributed.DistInfo) -> None:
    if not info.is_main:
        logging.getLogger("peclip").setLevel(logging.WARNING)


def _report(result: TrainResult, info: distributed.DistInfo) -> LaunchResult:
    if not info.is_main:
        return LaunchResult(result.run_dir, [])
    lines = [f"test  {describe(result.selected, result.selection, result.selected['epoch'])}"]
    if result.selection != "last":
        lines.append(f"test  {describe(result.last, 'last', result.last['epoch'])}")
    lines.append(f"run folder: {result.run_dir}")
    return LaunchResult(result.run_dir, lines)

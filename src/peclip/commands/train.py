"""``peclip train``: train from a recipe (one run, or every fold), resumable; multi-GPU through torchrun."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "train PE-CLIP from a recipe (dfew, ferv39k, mafw, afew, synthetic or a YAML file); --resume continues a run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", help="built-in recipe name or path to a recipe YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set train.lr_adapters=1e-4 (repeatable)")
    parser.add_argument("--root", help="shortcut for --set data.root=PATH (folder the manifest's clips live in)")
    parser.add_argument("--manifest", help="shortcut for --set data.manifest=PATH (annotation folder or file)")
    parser.add_argument("--folds", metavar="all|1,2,..", help="train these folds in sequence and summarise them")
    parser.add_argument("--name", help="run folder name (default: <recipe>-<date>-<time>)")
    parser.add_argument("--output-dir", help="parent folder of run folders (default: runs)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run (or cross-validation) in folder RUN")
    parser.add_argument("--list", action="store_true", help="list the built-in recipes and exit")


def _overrides(args: argparse.Namespace) -> dict:
    from peclip.commands.info import parse_overrides

    overrides = parse_overrides(args.set)
    for key, value in (("data.root", args.root), ("data.manifest", args.manifest), ("run.name", args.name),
                       ("run.output_dir", args.output_dir)):
        if value is not None:
            overrides[key] = value
    return overrides


def run(args: argparse.Namespace) -> int:
    from peclip.train import distributed
    from peclip.train.config import builtin_recipes, load_recipe

    if args.list:
        for name in builtin_recipes():
            print(name)
        return 0
    overrides = _overrides(args)
    if args.resume:
        if args.recipe or args.folds:
            raise ValueError("--resume continues a run with its own recipe and folds; drop --recipe/--folds")
        return _resume(Path(args.resume), overrides)
    if not args.recipe:
        raise ValueError("give --recipe NAME_OR_YAML (built-in: " + ", ".join(builtin_recipes()) + ") or --resume RUN")
    recipe = load_recipe(args.recipe, overrides)
    info = distributed.setup(recipe.train.device)
    _quiet_other_ranks(info)
    try:
        from peclip.train.trainer import default_run_dir

        run_dir = distributed.broadcast_object(default_run_dir(recipe), info)
        if args.folds:
            from peclip.train.folds import parse_folds, train_folds

            result = train_folds(recipe, parse_folds(args.folds, recipe), run_dir, dist_info=info)
            if info.is_main:
                print(result.table, end="")
                print(f"run folder: {result.run_dir}")
            return 0
        from peclip.train.trainer import train

        _report(train(recipe, run_dir, dist_info=info), info)
        return 0
    finally:
        distributed.cleanup(info)


def _resume(run_dir: Path, overrides: dict) -> int:
    from peclip.train import distributed
    from peclip.train.config import load_recipe
    from peclip.train.folds import is_multi_fold, resume_folds
    from peclip.train.run import CONFIG_YAML

    if is_multi_fold(run_dir):
        import yaml

        from peclip.train.folds import FOLDS_YAML

        device = (yaml.safe_load((run_dir / FOLDS_YAML).read_text())["recipe"].get("train") or {}).get("device", "auto")
        info = distributed.setup(overrides.get("train.device", device))
        _quiet_other_ranks(info)
        try:
            result = resume_folds(run_dir, overrides, dist_info=info)
            if info.is_main:
                print(result.table, end="")
            return 0
        finally:
            distributed.cleanup(info)
    if not (run_dir / CONFIG_YAML).is_file():
        raise FileNotFoundError(f"--resume {run_dir}: not a run folder ({CONFIG_YAML} is missing)")
    recipe = load_recipe(run_dir / CONFIG_YAML, overrides)
    if overrides:
        logging.getLogger("peclip").warning("resuming %s with changed settings: %s", run_dir, overrides)
    info = distributed.setup(recipe.train.device)
    _quiet_other_ranks(info)
    try:
        from peclip.train.trainer import train

        if overrides and info.is_main:
            from peclip.train.config import dump_recipe
            from peclip.train.run import RunFolder

            RunFolder(run_dir).write_config(dump_recipe(recipe))
        _report(train(recipe, run_dir, resume=True, dist_info=info), info)
        return 0
    finally:
        distributed.cleanup(info)


def _quiet_other_ranks(info) -> None:
    if not info.is_main:
        logging.getLogger("peclip").setLevel(logging.WARNING)


def _report(result, info) -> None:
    from peclip.train.evaluate import describe

    if not info.is_main:
        return
    print(f"test  {describe(result.selected, result.selection, result.selected['epoch'])}")
    if result.selection != "last":
        print(f"test  {describe(result.last, 'last', result.last['epoch'])}")
    print(f"run folder: {result.run_dir}")

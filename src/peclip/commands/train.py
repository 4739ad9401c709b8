"""``peclip train``: train from a recipe (one run, or every fold), resumable; multi-GPU through torchrun."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.overrides import parse_overrides

HELP = "train PE-CLIP from a recipe (dfew, ferv39k, mafw, afew, synthetic or a YAML file); --resume continues a run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", help="built-in recipe name or path to a recipe YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set train.lr_adapters=1e-4, --set "
                             "model.temporal.per_video=false, --set runtime.grad_checkpointing=true (repeatable)")
    parser.add_argument("--root", help="shortcut for --set data.root=PATH (folder the manifest's clips live in)")
    parser.add_argument("--manifest", help="shortcut for --set data.manifest=PATH (annotation folder or file)")
    parser.add_argument("--folds", metavar="all|1,2,..", help="train these folds in sequence and summarise them")
    parser.add_argument("--name", help="run folder name (default: <recipe>-<date>-<time>)")
    parser.add_argument("--output-dir", help="parent folder of run folders (default: runs)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run (or cross-validation) in folder RUN")
    parser.add_argument("--list", action="store_true", help="list the built-in recipes and exit")


def _overrides(args: argparse.Namespace) -> dict:
    overrides = parse_overrides(args.set, "train", ("model", "runtime", "data", "train", "run", "synthetic",
                                                     "cotrain"))
    dotted = overrides.recipe_overrides()
    for key, value in (("data.root", args.root), ("data.manifest", args.manifest), ("run.name", args.name),
                       ("run.output_dir", args.output_dir)):
        if value is not None:
            dotted[key] = value
    return dotted


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose (here and in every command's run): the library imports torch, which
    # `peclip --help` must not wait for.
    from peclip.train import config as recipes
    from peclip.train import launch

    if args.list:
        print("\n".join(recipes.builtin_recipes()))
        return 0
    overrides = _overrides(args)
    if args.resume:
        if args.recipe or args.folds:
            raise ValueError("--resume continues a run with its own recipe and folds; drop --recipe/--folds")
        result = launch.resume(Path(args.resume), overrides)
    elif not args.recipe:
        raise ValueError("give --recipe NAME_OR_YAML (built-in: " + ", ".join(recipes.builtin_recipes()) +
                         ") or --resume RUN")
    else:
        result = launch.start(args.recipe, overrides, args.folds)
    for line in result.lines:
        print(line)
    return 0

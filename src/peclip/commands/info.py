"""``peclip info MODEL``: parameter counts per component, frozen and trainable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from peclip.overrides import parse_overrides

HELP = "show a model's parameter counts per component (total, frozen, trainable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a built-in model name (see --list) or a checkpoint folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model config field, e.g. --set model.temporal.enabled=false (the model. "
                             "prefix may be left out; repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set, "info", ("model",)).model
    # Deferred on purpose: building a model imports torch, which `peclip --help` must not wait for.
    from peclip.checkpoint import load
    from peclip.factory import create_model

    if Path(args.model).is_dir():
        model = load(args.model, pretrained="none", **overrides)
    else:
        model = create_model(args.model, **overrides)
    report = model.parameter_report()
    frozen = sum(v for k, v in report.items() if k.startswith("frozen"))
    trainable = sum(v for k, v in report.items() if not k.startswith("frozen"))
    total = frozen + trainable
    if args.json:
        print(json.dumps({"model": model.config.name, "components": report, "frozen": frozen,
                          "trainable": trainable, "total": total}, indent=2))
        return 0
    print(f"{model.config.name}  ({model.architecture}, {model.config.num_classes} classes)")
    for name, count in report.items():
        print(f"  {name:<36} {count:>13,}")
    print(f"  {'frozen':<36} {frozen:>13,}")
    print(f"  {'trainable':<36} {trainable:>13,}  ({100 * trainable / total:.2f} % of {total:,})")
    return 0

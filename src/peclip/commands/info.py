"""``peclip info MODEL``: parameter counts per component, frozen and trainable."""

from __future__ import annotations

import argparse
import json

HELP = "show a model's parameter counts per component (total, frozen, trainable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a built-in model name (see --list) or a checkpoint folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set temporal.enabled=false (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def parse_overrides(pairs: list[str]) -> dict:
    """``["a.b=1", "c=false"]`` -> ``{"a.b": 1, "c": False}``; values are read as YAML scalars."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"override {pair!r} must look like KEY=VALUE, e.g. temporal.per_video=false")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import peclip

    overrides = parse_overrides(args.set)
    if Path(args.model).is_dir():
        model = peclip.load(args.model, pretrained="none", **overrides)
    else:
        model = peclip.create_model(args.model, **overrides)
    report = model.parameter_report()
    frozen = sum(v for k, v in report.items() if k.startswith("frozen"))
    trainable = sum(v for k, v in report.items() if not k.startswith("frozen"))
    total = frozen + trainable
    if args.json:
        print(json.dumps({"model": model.config.name, "components": report, "frozen": frozen,
                          "trainable": trainable, "total": total}, indent=2))
        return 0
    print(f"{model.config.name}  ({model.config.backbone.name}, {model.config.num_classes} classes)")
    for name, count in report.items():
        print(f"  {name:<26} {count:>13,}")
    print(f"  {'frozen':<26} {frozen:>13,}")
    print(f"  {'trainable':<26} {trainable:>13,}  ({100 * trainable / total:.2f} % of {total:,})")
    return 0

"""``peclip eval``: evaluate a run or checkpoint on any dataset or manifest (UAR, WAR, confusion matrix)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HELP = "evaluate a trained run or checkpoint on a dataset or manifest: UAR, WAR, per-class recall, confusion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder (runs/NAME: its selected checkpoint) or a checkpoint folder")
    parser.add_argument("--data", help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file (CSV or "
                        "annotation txt); default: the run's own test split")
    parser.add_argument("--manifest", help="annotation folder or file of a named dataset")
    parser.add_argument("--root", help="folder the manifest's clip paths are relative to")
    parser.add_argument("--fold", type=int, help="fold of DFEW/MAFW (or of a manifest's fold column)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a data setting, e.g. --set data.num_workers=8 (repeatable)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--pretrained", help="CLIP weights (tag or file) if not the ones recorded in the checkpoint; "
                        "'none' keeps random CLIP weights")
    parser.add_argument("--out", help="folder for the report (default: RUN/eval-<data>-<split> for a run, "
                        "./eval-<checkpoint>-<data>-<split> otherwise)")


def _data_changes(args: argparse.Namespace) -> dict:
    from peclip.commands.info import parse_overrides

    changes = {}
    for key, value in parse_overrides(args.set).items():
        if not key.startswith("data."):
            raise ValueError(f"--set {key}: peclip eval only takes data.* settings")
        changes[key[len("data."):]] = value
    return changes


def resolve_data(args: argparse.Namespace, model, source: Path, is_run: bool, info):
    """The data config and report tag that ``args`` ask for (``--data``, or the run's own data); also used by
    ``peclip embed``, so both read clips the same way."""
    from peclip.data.config import DataConfig
    from peclip.data.specs import DATASETS
    from peclip.train.evaluate import data_config_for
    from peclip.train.run import CONFIG_YAML

    changes = _data_changes(args)
    if args.data is None:
        if not is_run:
            raise ValueError("a checkpoint folder carries no dataset; give --data NAME_OR_MANIFEST")
        from peclip.train.config import load_recipe
        from peclip.train.run import RunFolder
        from peclip.train.trainer import resolve_data_config

        recipe = load_recipe(source / CONFIG_YAML)
        base = resolve_data_config(recipe, RunFolder(source, writer=False), info)
        cfg = data_config_for(model, base, **({"root": args.root} if args.root else {}),
                              **({"manifest": args.manifest} if args.manifest else {}), **changes)
        tag = recipe.data.dataset
    else:
        name = args.data.lower()
        fields = {"root": args.root, "fold": args.fold}
        if name in DATASETS:
            fields.update(dataset=name, manifest=args.manifest)
        else:
            if not Path(args.data).is_file():
                raise FileNotFoundError(f"--data {args.data!r} is neither a dataset ({', '.join(DATASETS)}) "
                                        "nor a manifest file")
            # the whole file is the test split unless it has a split column
            fields.update(dataset="custom", manifest=args.data, test_manifest=args.data)
        fields.update(changes)
        cfg = data_config_for(model, None, **{k: v for k, v in fields.items() if v is not None})
        tag = name if name in DATASETS else Path(args.data).stem
    if not isinstance(cfg, DataConfig):
        raise TypeError("internal: the evaluation data config is not a DataConfig")
    return cfg, tag


def run(args: argparse.Namespace) -> int:
    import peclip
    from peclip.train import distributed
    from peclip.train.evaluate import EvalRequest, describe, evaluate_model, write_report
    from peclip.train.run import CONFIG_YAML, RESULTS_JSON, load_model, resolve_checkpoint

    source = Path(args.model)
    checkpoint = resolve_checkpoint(source)
    is_run = (source / CONFIG_YAML).is_file()
    info = distributed.setup(args.device)
    try:
        model = load_model(checkpoint, pretrained=args.pretrained)
        cfg, tag = resolve_data(args, model, source, is_run, info)
        request = EvalRequest(cfg, args.split, cfg.fold if args.fold is None else args.fold, args.batch_size,
                              args.device, args.precision)
        output, items = evaluate_model(model, request, info)
        selection, epoch = "checkpoint", peclip.checkpoint.read_config(checkpoint).get("epoch")
        if is_run and (source / RESULTS_JSON).is_file():
            import json

            selection = json.loads((source / RESULTS_JSON).read_text())["selection"]
        if info.is_main:
            fold = f"fold{request.fold}-" if request.fold else ""
            tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tag}-{fold}{args.split}")
            if args.out:
                out = Path(args.out)
            else:
                out = source / f"eval-{tag}" if is_run else Path(f"eval-{checkpoint.name}-{tag}")
            write_report(out, output, model.class_names,
                         {"selection": selection, "epoch": epoch, "split": args.split, "data": tag,
                          "checkpoint": str(checkpoint)}, [str(i.path) for i in items])
            print(f"{tag}  {describe(output.result.summary(), selection, epoch)}")
            for name, recall, support in zip(model.class_names, output.result.per_class_recall, output.result.support,
                                             strict=False):
                print(f"  {name:<16} recall {recall:6.2f}  ({support} clips)")
            print(f"report: {out}")
        return 0
    finally:
        distributed.cleanup(info)

"""``peclip eval``: evaluate a run or checkpoint on any dataset or manifest (UAR, WAR, confusion matrix)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.config import PRECISIONS
from peclip.evaluation.options import EvalRequest
from peclip.overrides import parse_overrides

HELP = "evaluate a trained run or checkpoint on a dataset or manifest: UAR, WAR, per-class recall, confusion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder (runs/NAME: its selected checkpoint) or a checkpoint folder")
    parser.add_argument("--data", help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file (CSV or "
                        "annotation txt); default: the run's own test split")
    parser.add_argument("--manifest", help="annotation folder or file of a named dataset")
    parser.add_argument("--root", help="folder the manifest's clip paths are relative to")
    parser.add_argument("--fold", type=int, help="fold of DFEW/MAFW (or of a manifest's fold column)")
    parser.add_argument("--split", default=EvalRequest.split, help="split to evaluate (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set data.num_workers=8 or --set runtime.cache_class_texts="
                             "false (data.*, model.*, runtime.*; repeatable)")
    parser.add_argument("--batch-size", type=int, default=EvalRequest.batch_size,
                        help="clips per forward pass (default %(default)s)")
    parser.add_argument("--device", default=EvalRequest.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=EvalRequest.precision, choices=PRECISIONS)
    parser.add_argument("--pretrained", help="CLIP weights (tag or file) if not the ones recorded in the checkpoint; "
                        "'none' keeps random CLIP weights")
    parser.add_argument("--zero-shot", action="store_true",
                        help="score against the class texts of the data's label set (or --set model.classes=[...] / "
                             "model.text_kind=...), not the model's own: e.g. a caption-trained model on another "
                             "dataset (docs/text-supervision.md)")
    parser.add_argument("--out", help="folder for the report (default: RUN/eval-<data>-<split> for a run, "
                        "./eval-<checkpoint>-<data>-<split> otherwise)")


def run(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set, "eval", ("model", "runtime", "data"))
    # Deferred on purpose: the library imports torch, which `peclip --help` must not wait for.
    from peclip.train.eval_saved import EvalJob, evaluate_saved

    job = EvalJob(Path(args.model), args.data, args.manifest, args.root, args.fold, args.split, args.batch_size,
                  args.device, args.precision, args.pretrained, args.out, overrides.data, overrides.model,
                  overrides.runtime, args.zero_shot)
    for line in evaluate_saved(job):
        print(line)
    return 0

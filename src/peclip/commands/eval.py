"""``peclip eval``: evaluate a run or checkpoint on any dataset or manifest (UAR, WAR, confusion matrix)."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.commands.arguments import add_engine_argument, add_saved_data_arguments, saved_job_fields

HELP = "evaluate a trained run or checkpoint on a dataset or manifest: UAR, WAR, per-class recall, confusion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a run folder (runs/NAME: its selected checkpoint), a checkpoint folder, or "
                        "MODEL.onnx from `peclip export` with --engine onnx")
    parser.add_argument("--data", help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file (CSV or "
                        "annotation txt); default: the run's own test split")
    add_saved_data_arguments(parser, "evaluate")
    add_engine_argument(parser, "the model argument")
    parser.add_argument("--expected", metavar="RECIPE", help="compare with this recipe's expected numbers (default: "
                        "the run's own recipe when evaluating its own test split), e.g. --expected dfew")
    parser.add_argument("--zero-shot", action="store_true",
                        help="score against the class texts of the data's label set (or --set model.classes=[...] / "
                             "model.text_kind=...), not the model's own: e.g. a caption-trained model on another "
                             "dataset (docs/text-supervision.md)")
    parser.add_argument("--out", help="folder for the report (default: RUN/eval-<data>-<split> for a run, "
                        "./eval-<checkpoint>-<data>-<split> otherwise)")


def run(args: argparse.Namespace) -> int:
    fields = saved_job_fields(args, "eval", Path(args.model), args.data)
    # Deferred on purpose: the library imports torch, which `peclip --help` must not wait for.
    from peclip.train.eval_saved import EvalJob, evaluate_saved

    for line in evaluate_saved(EvalJob(**fields, out=args.out, expected=args.expected, zero_shot=args.zero_shot,
                                          engine=args.engine)):
        print(line)
    return 0

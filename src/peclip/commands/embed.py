"""``peclip embed DATA_OR_MANIFEST --checkpoint RUN -o OUT``: video embeddings, an index and a 2-D map."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.commands.arguments import add_saved_data_arguments, saved_job_fields
from peclip.evaluation.options import PROJECTIONS

HELP = "video embeddings of a dataset or manifest (.npy + CSV index) and a 2-D map with the class texts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA_OR_MANIFEST", nargs="?",
                        help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file; default: the run's own data")
    parser.add_argument("--checkpoint", required=True, metavar="RUN", help="a run folder or a checkpoint folder")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="folder for the files")
    add_saved_data_arguments(parser, "embed")
    parser.add_argument("--projection", choices=PROJECTIONS, default="auto",
                        help="2-D map: t-SNE (scikit-learn) or UMAP; auto takes UMAP when umap-learn is installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 2-D map (default 0)")


def run(args: argparse.Namespace) -> int:
    fields = saved_job_fields(args, "embed", Path(args.checkpoint), args.data)
    # Deferred on purpose: the library imports torch, which `peclip --help` must not wait for.
    from peclip.train.eval_saved import EvalJob, embed_saved

    for line in embed_saved(EvalJob(**fields), args.output, args.projection, args.seed):
        print(line)
    return 0

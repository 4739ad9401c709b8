"""``peclip embed DATA_OR_MANIFEST --checkpoint RUN -o OUT``: video embeddings, an index and a 2-D map."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.config import PRECISIONS
from peclip.evaluation.options import PROJECTIONS, EvalRequest
from peclip.overrides import parse_overrides

HELP = "video embeddings of a dataset or manifest (.npy + CSV index) and a 2-D map with the class texts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA_OR_MANIFEST", nargs="?",
                        help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file; default: the run's own data")
    parser.add_argument("--checkpoint", required=True, metavar="RUN", help="a run folder or a checkpoint folder")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="folder for the files")
    parser.add_argument("--manifest", help="annotation folder or file of a named dataset")
    parser.add_argument("--root", help="folder the manifest's clip paths are relative to")
    parser.add_argument("--fold", type=int, help="fold of DFEW/MAFW (or of a manifest's fold column)")
    parser.add_argument("--split", default=EvalRequest.split, help="split to embed (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set data.num_workers=8 (data.*, model.*, runtime.*; "
                             "repeatable)")
    parser.add_argument("--batch-size", type=int, default=EvalRequest.batch_size,
                        help="clips per forward pass (default %(default)s)")
    parser.add_argument("--device", default=EvalRequest.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=EvalRequest.precision, choices=PRECISIONS)
    parser.add_argument("--pretrained", help="CLIP weights (tag or file) if not the ones recorded in the checkpoint")
    parser.add_argument("--projection", choices=PROJECTIONS, default="auto",
                        help="2-D map: t-SNE (scikit-learn) or UMAP; auto takes UMAP when umap-learn is installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 2-D map (default 0)")


def run(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set, "embed", ("model", "runtime", "data"))
    # Deferred on purpose: the library imports torch, which `peclip --help` must not wait for.
    from peclip.train.eval_saved import EvalJob, embed_saved

    job = EvalJob(Path(args.checkpoint), args.data, args.manifest, args.root, args.fold, args.split, args.batch_size,
                  args.device, args.precision, args.pretrained, None, overrides.data, overrides.model,
                  overrides.runtime)
    for line in embed_saved(job, args.output, args.projection, args.seed):
        print(line)
    return 0

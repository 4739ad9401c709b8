"""``peclip embed DATA_OR_MANIFEST --checkpoint RUN -o OUT``: video embeddings, an index and a 2-D map."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from peclip.commands.eval import resolve_data
from peclip.evaluation.embeddings import PROJECTIONS, compute_embeddings, write_embeddings
from peclip.train import distributed
from peclip.train.evaluate import EvalRequest
from peclip.train.run import CONFIG_YAML, load_model, resolve_checkpoint

HELP = "video embeddings of a dataset or manifest (.npy + CSV index) and a 2-D map with the class texts"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA_OR_MANIFEST", nargs="?",
                        help="dataset name (dfew, ferv39k, afew, mafw) or a manifest file; default: the run's own data")
    parser.add_argument("--checkpoint", required=True, metavar="RUN", help="a run folder or a checkpoint folder")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="folder for the files")
    parser.add_argument("--manifest", help="annotation folder or file of a named dataset")
    parser.add_argument("--root", help="folder the manifest's clip paths are relative to")
    parser.add_argument("--fold", type=int, help="fold of DFEW/MAFW (or of a manifest's fold column)")
    parser.add_argument("--split", default="test", help="split to embed (default: test)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a data setting, e.g. --set data.num_workers=8 (repeatable)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--pretrained", help="CLIP weights (tag or file) if not the ones recorded in the checkpoint")
    parser.add_argument("--projection", choices=PROJECTIONS, default="auto",
                        help="2-D map: t-SNE (scikit-learn) or UMAP; auto takes UMAP when umap-learn is installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 2-D map (default 0)")


def run(args: argparse.Namespace) -> int:
    source = Path(args.checkpoint)
    checkpoint = resolve_checkpoint(source)
    is_run = (source / CONFIG_YAML).is_file()
    info = distributed.setup(args.device)
    try:
        model = load_model(checkpoint, pretrained=args.pretrained)
        cfg, tag = resolve_data(args, model, source, is_run, info)
        request = EvalRequest(cfg, args.split, cfg.fold if args.fold is None else args.fold, args.batch_size,
                              args.device, args.precision)
        output = compute_embeddings(model, request, info)
        if info.is_main:
            title = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tag}-{args.split}")
            written = write_embeddings(args.output, output, list(model.class_names), args.split, args.projection,
                                       args.seed, title=f"{checkpoint.name}: {title}")
            print(f"{len(output.indices)} clips embedded ({output.embeddings.shape[1]} dimensions)")
            for kind, path in written.items():
                print(f"  {kind:<12} {path}")
        return 0
    finally:
        distributed.cleanup(info)

"""``peclip image-folds DATASET ROOT -o manifest.csv``: a k-fold manifest of KMU-FED or KDEF from its folders."""

from __future__ import annotations

import argparse

HELP = "write a k-fold CSV manifest of an image dataset (kmu-fed, kdef) from its folder layout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=("kmu-fed", "kdef"), help="which dataset's naming to read")
    parser.add_argument("root", help="the folder that holds the dataset's images (searched recursively)")
    parser.add_argument("-o", "--output", required=True, metavar="CSV", help="the manifest to write")
    parser.add_argument("--folds", type=int, default=10, help="number of stratified folds (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default %(default)s)")
    parser.add_argument("--angles", metavar="S,HL,...", help="KDEF: keep these camera angles only (default: all)")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: the data layer imports numpy and torch, which `peclip --help` must not wait for.
    from peclip.data.image_datasets import image_dataset_manifest

    angles = tuple(a.strip().upper() for a in args.angles.split(",")) if args.angles else None
    path = image_dataset_manifest(args.dataset, args.root, args.output, args.folds, args.seed, angles)
    print(f"wrote {path}; train with --root {args.root} --manifest {path} --set data.fold=1..{args.folds}")
    return 0

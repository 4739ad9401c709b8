"""``peclip csim A B``: copula-based similarity (CSIM) of two images, or of two frames of one video."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from peclip.metrics.copula import VARIANTS

HELP = "CSIM (copula-based similarity, arXiv 2410.01411) of two images or two video frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="first image (any format OpenCV reads), or a video with --frames")
    parser.add_argument("b", nargs="?", help="second image, of the same size as the first (see --resize)")
    parser.add_argument("--frames", nargs=2, type=int, metavar=("I", "J"),
                        help="compare frames I and J (0-based) of the video A instead of two images")
    parser.add_argument("--patch", type=int, default=8, help="patch size P (default 8, as the authors)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="faithful",
                        help="faithful: the authors' ordinal ranks + Winitzki erfinv (default); "
                             "exact: average ranks for ties + exact inverse normal")
    parser.add_argument("--resize", action="store_true",
                        help="resize B to A's size (area interpolation) instead of refusing different sizes")
    parser.add_argument("--map", type=Path, metavar="OUT",
                        help="also write the (H/P, W/P) similarity map: .npy (values) or .png (heat map)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a line of text")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: image and video decoding libraries load only when the command runs.
    from peclip.data.csim_compare import compare

    found = compare(args.a, args.b, tuple(args.frames) if args.frames else None, args.patch, args.variant,
                    args.resize, args.map)
    result = found.result
    if args.json:
        print(json.dumps({"a": found.names[0], "b": found.names[1], "csim": result.score, "variant": args.variant,
                          "patch": args.patch, "map_shape": list(result.map.shape),
                          "map": str(args.map) if args.map is not None else None}))
    else:
        rows, cols = result.map.shape
        print(f"CSIM {result.score:.6f}  ({args.variant}, patch {args.patch}, map {rows}x{cols})")
    return 0

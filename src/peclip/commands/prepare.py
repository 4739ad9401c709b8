"""``peclip prepare INPUT... --out DIR``: raw videos -> face-cropped frame folders + manifest.csv."""

from __future__ import annotations

import argparse

HELP = "crop the face out of videos (files, folders or a manifest) into frame folders + a training manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (their videos and frame folders, recursively) or manifests "
                             "(.csv path,label[,split][,fold] or official .txt annotation; labels are kept)")
    parser.add_argument("--out", required=True, help="output folder: <out>/<video>/00001.jpg ... + manifest.csv")
    parser.add_argument("--size", type=int, default=224, help="side of the square face crops in px (default 224)")
    parser.add_argument("--margin", type=float, default=0.25,
                        help="margin added on each side of the face box, as a fraction of its side (default 0.25)")
    parser.add_argument("--max-gap", type=float, default=0.5, metavar="SECONDS",
                        help="a face missed for up to this long keeps its last box (default 0.5); longer gaps "
                             "are left out and reported")
    parser.add_argument("--detect-size", type=int, default=240,
                        help="frames are shrunk to this shorter side for detection (default 240)")
    parser.add_argument("--min-face", type=float, default=0.1,
                        help="smallest face to find, as a fraction of the frame's shorter side (default 0.1)")
    parser.add_argument("--select", choices=("largest", "center"), default="largest",
                        help="which face a track starts on when several are seen (default largest)")
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    parser.add_argument("--label", help="label of every non-manifest input: a class name or index")
    parser.add_argument("--label-set", default="basic7",
                        help="label set that class names refer to (basic7 or mafw11; default basic7)")
    parser.add_argument("--root", help="folder a manifest input's paths are relative to (default: its folder)")
    parser.add_argument("--report-duplicates", action="store_true",
                        help="record near-identical consecutive crops (CSIM >= --duplicate-threshold) per video")
    parser.add_argument("--duplicate-threshold", type=float, default=0.95, help="CSIM threshold (default 0.95)")
    parser.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality of the crops (default 95)")
    parser.add_argument("--force", action="store_true", help="redo videos that an earlier run completed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from peclip.data.prepare import PrepareOptions, prepare_videos
    from peclip.labels import get_label_set

    options = PrepareOptions(size=args.size, margin=args.margin, max_gap=args.max_gap, detect_size=args.detect_size,
                             min_face=args.min_face, select=args.select, jpeg_quality=args.jpeg_quality,
                             report_duplicates=args.report_duplicates, duplicate_threshold=args.duplicate_threshold,
                             force=args.force)
    summary = prepare_videos(args.inputs, args.out, options, label=args.label, label_set=get_label_set(args.label_set),
                             root=args.root, workers=args.workers, progress=not args.no_progress)
    print(summary.format())
    return 0 if summary.done else 1

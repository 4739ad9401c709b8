"""``peclip prepare INPUT... --out DIR``: raw videos -> face-cropped frame folders + manifest.csv."""

from __future__ import annotations

import argparse

from peclip.commands.face_flags import add_face_arguments, face_settings
from peclip.data.prepare_options import PrepareOptions
from peclip.faces.options import SELECTS
from peclip.labels import get_label_set

HELP = "crop the face out of videos (files, folders or a manifest) into frame folders + a training manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (their videos and frame folders, recursively) or manifests "
                             "(.csv path,label[,split][,fold] or official .txt annotation; labels are kept)")
    parser.add_argument("--out", required=True, help="output folder: <out>/<video>/00001.jpg ... + manifest.csv")
    parser.add_argument("--size", type=int, default=PrepareOptions.size,
                        help="side of the square face crops in px (default %(default)s)")
    parser.add_argument("--margin", type=float, default=PrepareOptions.margin,
                        help="margin added on each side of the face box, as a fraction of its side "
                             "(default %(default)s)")
    parser.add_argument("--max-gap", type=float, default=PrepareOptions.max_gap, metavar="SECONDS",
                        help="a face missed for up to this long keeps its last box (default %(default)s); longer gaps "
                             "are left out and reported")
    parser.add_argument("--detect-size", type=int, default=PrepareOptions.detect_size,
                        help="frames are shrunk to this shorter side for detection (default %(default)s)")
    parser.add_argument("--min-face", type=float, default=PrepareOptions.min_face,
                        help="smallest face to find, as a fraction of the frame's shorter side (default %(default)s)")
    parser.add_argument("--select", choices=SELECTS, default=PrepareOptions.select,
                        help="which faces are tracked first when --max-faces limits them (default %(default)s)")
    add_face_arguments(parser)
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    parser.add_argument("--label", help="label of every non-manifest input: a class name or index")
    parser.add_argument("--label-set", default="basic7",
                        help="label set that class names refer to (basic7 or mafw11; default basic7)")
    parser.add_argument("--root", help="folder a manifest input's paths are relative to (default: its folder)")
    parser.add_argument("--report-duplicates", action="store_true",
                        help="record near-identical consecutive crops (CSIM >= --duplicate-threshold) of every "
                             "face track")
    parser.add_argument("--duplicate-threshold", type=float, default=PrepareOptions.duplicate_threshold,
                        help="CSIM threshold (default %(default)s)")
    parser.add_argument("--min-track-seconds", type=float, default=PrepareOptions.min_track_seconds, metavar="SECONDS",
                        help="drop a face track shorter than this (no clip, no manifest row; reported) unless it "
                             "covers the whole video (default %(default)s; 0 keeps every track)")
    parser.add_argument("--jpeg-quality", type=int, default=PrepareOptions.jpeg_quality,
                        help="JPEG quality of the crops (default %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="redo videos that an earlier run completed (a video whose recorded settings differ "
                             "from this run's is redone anyway)")
    parser.add_argument("--strict", action="store_true",
                        help="skip a video that decodes only in part (truncated or damaged) instead of preparing "
                             "what was decoded and marking it complete: false")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: decoding and face detection load OpenCV, PyAV and torch, which `--help` must not.
    from peclip.data.prepare import prepare_videos

    options = PrepareOptions(size=args.size, margin=args.margin, max_gap=args.max_gap, detect_size=args.detect_size,
                             min_face=args.min_face, select=args.select, jpeg_quality=args.jpeg_quality,
                             report_duplicates=args.report_duplicates, duplicate_threshold=args.duplicate_threshold,
                             min_track_seconds=args.min_track_seconds, force=args.force, strict=args.strict,
                             **face_settings(args))
    summary = prepare_videos(args.inputs, args.out, options, label=args.label, label_set=get_label_set(args.label_set),
                             root=args.root, workers=args.workers, progress=not args.no_progress)
    print(summary.format())
    return 0 if summary.done else 1

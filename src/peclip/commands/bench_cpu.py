"""``peclip bench-cpu``: measure this CPU's fp32 / bf16 / int8 speed and agreement and say which --precision to use."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "measure this CPU's fp32/bf16/int8 throughput and agreement with fp32, and say which --precision to use"

#: a ViT-B/32 has ViT-B's layer widths (the kernels' relative speeds carry over) at about a quarter of ViT-B/16's work
DEFAULT_MODEL = "peclip-vit-b32"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                        help="built-in model to measure, with random weights (default %(default)s: ViT-B layer "
                             "widths at a quarter of ViT-B/16's work; e.g. peclip-vit-b16 for the full model)")
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "int8"),
                        help="precisions to measure (default: fp32 and int8, plus bf16 where the CPU has native "
                             "bf16; emulated bf16 is several times slower than fp32)")
    parser.add_argument("--clips", type=int, default=4, metavar="N",
                        help="random clips to run (default %(default)s)")
    parser.add_argument("--video", action="append", default=[], metavar="PATH",
                        help="also run every face window of this video (repeatable; faces tracked as predict does)")
    parser.add_argument("--stride", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between the windows of --video (default %(default)s)")
    parser.add_argument("--min-agreement", type=float, default=0.99, metavar="F",
                        help="top-1 agreement with fp32 a precision needs to be recommended (default %(default)s)")
    parser.add_argument("--threads", type=int, metavar="N", help="torch and onnxruntime threads (default: torch's)")
    parser.add_argument("--no-peaks", action="store_true", help="skip the matrix-product peak measurement")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")


def run(args: argparse.Namespace) -> int:
    if args.clips < 0 or (args.clips == 0 and not args.video):
        raise ValueError(f"--clips {args.clips}: give at least one random clip or a --video")
    if not 0 < args.min_agreement <= 1:
        raise ValueError(f"--min-agreement {args.min_agreement} must lie in (0, 1], e.g. 0.99")
    for video in args.video:
        if not Path(video).is_file():
            raise FileNotFoundError(f"--video {video}: no such file")
    # Deferred on purpose: the measurement imports torch and onnxruntime, which `peclip --help` must not wait for.
    import torch

    from peclip.perf import cpu

    if args.threads:
        torch.set_num_threads(args.threads)
    report = cpu.bench_cpu(args.model, args.precisions, random=args.clips, videos=args.video, stride=args.stride,
                           min_agreement=args.min_agreement, peaks=not args.no_peaks,
                           say=lambda line: print(line, flush=True))
    for line in cpu.format_report(report):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0

"""``peclip live SOURCE``: emotions from a camera, a network stream or a file as they happen (JSON lines,
an overlay video, a page to watch)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from peclip.commands.arguments import (
    add_engine_argument,
    add_frame_selection_arguments,
    add_model_arguments,
    model_request,
)
from peclip.config import INFERENCE_PRECISIONS
from peclip.predict.live.options import LiveOptions
from peclip.predict.options import PredictOptions

HELP = "score a camera, a network stream or a file live, per person, every hop (JSON lines, overlay, a web page)"

log = logging.getLogger("peclip.commands.live")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE",
                        help="a camera (an index such as 0, or /dev/video0), a stream URL (rtsp://, http://, "
                             "udp://, anything FFmpeg opens) or a video file")
    add_model_arguments(parser, "model (give --checkpoint, or --model for zero-shot)")
    win = parser.add_argument_group("windows")
    win.add_argument("--window", type=float, default=LiveOptions.window, metavar="SECONDS",
                     help="seconds of face crops per scored window (default %(default)s)")
    win.add_argument("--hop", type=float, default=LiveOptions.hop, metavar="SECONDS",
                     help="seconds of stream time between scored windows, at most --window (default %(default)s)")
    add_frame_selection_arguments(win, LiveOptions)
    src = parser.add_argument_group("source")
    src.add_argument("--realtime", action="store_true",
                     help="play a file at its own frame rate (default: as fast as it goes, skipping nothing)")
    src.add_argument("--reconnect", action="store_true",
                     help="reopen a network stream that drops or ends, with exponential backoff "
                          f"({LiveOptions.backoff} s doubling up to {LiveOptions.max_backoff} s)")
    out = parser.add_argument_group("output")
    out.add_argument("--jsonl", metavar="FILE", help="write the JSON lines here instead of stdout")
    out.add_argument("--overlay", metavar="OUT.mp4", help="also write the video with boxes and labels")
    out.add_argument("--serve", type=int, metavar="PORT",
                     help="serve a page with the live video and charts on http://127.0.0.1:PORT/ (0: a free port)")
    out.add_argument("--summary-every", type=float, default=LiveOptions.summary_every, metavar="SECONDS",
                     help="log a summary this often (default %(default)s; 0: only at the end)")
    out.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_engine_argument(out, "--checkpoint")
    out.add_argument("--precision", choices=INFERENCE_PRECISIONS, default=PredictOptions.precision,
                     help="auto (default): bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere; int8: the "
                          "CPU's int8 vision tower (see peclip predict --help; `peclip bench-cpu` says which is "
                          "fastest here)")
    out.add_argument("--int8", action="store_true", help="the same as --precision int8")


def _options(args: argparse.Namespace) -> LiveOptions:
    return LiveOptions(window=args.window, hop=args.hop, sampling=args.sampling,
                       min_face_fraction=args.min_face_fraction, detect_faces=not args.no_face_detection,
                       realtime=args.realtime, reconnect=args.reconnect, summary_every=args.summary_every)


def run(args: argparse.Namespace) -> int:
    options = _options(args)  # validate settings before the model is built
    if args.int8 and args.precision not in ("int8", PredictOptions.precision):
        raise ValueError(f"--int8 and --precision {args.precision} disagree; give --precision int8 alone")
    request = model_request(args, "live", precision="int8" if args.int8 else args.precision, device=args.device,
                            engine=args.engine)
    # Deferred on purpose: the model stack imports torch, which `peclip --help` must not wait for.
    from peclip.predict.live.session import LiveSession
    from peclip.predict.models import ModelRequest, build_model

    session = LiveSession(build_model(ModelRequest(**request)), args.source, options, jsonl=args.jsonl,
                          overlay=args.overlay, serve=args.serve)

    def stop(signum, _frame) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        session.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        url = session.start_server()
        if url:
            print(f"serving {url}", file=sys.stderr, flush=True)
        summary = session.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("summary " + json.dumps(summary), file=sys.stderr, flush=True)
    return 0

"""``peclip explain INPUT``: attention maps on the face, the class map and the TDA's temporal saliency per window."""

from __future__ import annotations

import argparse
from pathlib import Path

from peclip.commands.arguments import (
    add_engine_argument,
    add_frame_selection_arguments,
    add_model_arguments,
    model_request,
)
from peclip.evaluation.options import CLASS_MAP_METHODS, HEAD_FUSIONS
from peclip.predict.options import PredictOptions

HELP = "see why: attention rollout and class maps on the face, and which frames the temporal adapter weighed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="a video file, an image or a folder of frames")
    add_model_arguments(parser, "model (give --checkpoint, or --model)")
    maps = parser.add_argument_group("maps")
    maps.add_argument("--class", dest="class_name", metavar="NAME",
                      help="class of the class-specific map and of the frame similarity (default: each window's top "
                           "class)")
    maps.add_argument("--method", choices=CLASS_MAP_METHODS, default="grad-rollout",
                      help="class-specific map: gradient-weighted rollout (default) or Grad-CAM on the last block")
    maps.add_argument("--head-fusion", choices=HEAD_FUSIONS, default="mean", help="how heads are fused (default mean)")
    maps.add_argument("--discard-ratio", type=float, default=0.0, metavar="R",
                      help="drop the weakest share R of each block's attention entries before rollout (default 0)")
    win = parser.add_argument_group("windows")
    win.add_argument("--window", type=float, default=PredictOptions.window, metavar="SECONDS",
                     help="window length (default %(default)s)")
    win.add_argument("--stride", type=float, default=2.0, metavar="SECONDS",
                     help="time between window starts (default 2.0: side by side)")
    win.add_argument("--max-windows", type=int, metavar="N", help="explain at most N face windows")
    add_frame_selection_arguments(win, PredictOptions)
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", default="peclip-explanations", metavar="DIR",
                     help="folder for NAME.json, NAME.npz and NAME_wNNN.png (default ./peclip-explanations)")
    out.add_argument("--overlay", action="store_true",
                     help="also write NAME_overlay.mp4: the sampled face crops with the class map blended on")
    out.add_argument("--no-plot", action="store_true", help="do not write the PNGs")
    out.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_engine_argument(out, "--checkpoint")


def run(args: argparse.Namespace) -> int:
    if args.max_windows is not None and args.max_windows < 1:
        raise ValueError(f"--max-windows {args.max_windows} must be at least 1")
    if not Path(args.input).exists():
        raise FileNotFoundError(f"{args.input} does not exist; give a video file, an image or a folder of frames")
    # a float torch model: attention recording needs it (the library refuses an exported graph, naming why)
    request = model_request(args, "explain", device=args.device, engine=args.engine)
    # Deferred on purpose: the library imports torch, which `peclip --help` must not wait for.
    from peclip.evaluation.explain_video import explain_video
    from peclip.predict.models import ModelRequest, build_model

    model = build_model(ModelRequest(**request))
    result = explain_video(model, args.input, window=args.window, stride=args.stride, class_name=args.class_name,
                           head_fusion=args.head_fusion, discard_ratio=args.discard_ratio, method=args.method,
                           detect_faces=not args.no_face_detection, min_face_fraction=args.min_face_fraction,
                           sampling=args.sampling, max_windows=args.max_windows, progress=True)
    written = result.save(args.output, plot=not args.no_plot, overlay=args.overlay)
    done = result.explained
    print(f"{Path(args.input).name}: {len(result.windows)} windows, {len(done)} explained")
    for w in done:
        e = w.explanation
        print(f"  window {w.index} ({w.start:.1f}-{w.end:.1f} s, track {w.track}): {e.class_name} {e.probability:.2f} "
              f"({e.seconds:.2f} s)")
    for kind, path in written.items():
        print(f"  {kind:<8} {path}")
    return 0 if done else 1

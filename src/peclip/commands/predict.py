"""``peclip predict VIDEO_OR_DIR...``: emotion timelines (CSV, JSON, PNG, optional overlay MP4) for your videos."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from peclip.config import INFERENCE_PRECISIONS
from peclip.labels import LABEL_SETS, TEXT_KINDS
from peclip.overrides import parse_overrides
from peclip.predict.inputs import find_inputs
from peclip.predict.options import RANDOM_WEIGHTS_NOTE, SAMPLINGS, PredictOptions

HELP = "predict the emotion over time in your own videos or images (fine-tuned checkpoint or zero-shot CLIP)"

log = logging.getLogger("peclip.commands.predict")

#: errors that concern one input file; a run reports them and goes on with the next file
_FILE_ERRORS = (ValueError, FileNotFoundError, RuntimeError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR",
                        help="video files, images (one-frame clips) or directories of them")
    model = parser.add_argument_group("model (give --checkpoint, or --model for zero-shot)")
    model.add_argument("--checkpoint", metavar="RUN",
                       help="a fine-tuned model: a training run folder or a checkpoint folder "
                            "(config.json + trainable.safetensors)")
    model.add_argument("--model", metavar="NAME",
                       help="a built-in model for zero-shot prediction, e.g. clip-vit-b16 (see peclip info)")
    model.add_argument("--pretrained", metavar="TAG_OR_PATH",
                       help="CLIP weights: an open_clip tag such as 'openai' (needs network once) or a local "
                            "file; with --checkpoint it replaces the weights recorded in the checkpoint")
    model.add_argument("--texts", choices=TEXT_KINDS,
                       help="class texts (default for zero-shot: au, PE-CLIP's Action-Unit descriptions; a "
                            "checkpoint keeps the texts it was trained with unless this is given)")
    model.add_argument("--templates", action="append", metavar="SET_OR_TEMPLATE",
                       help="prompt ensembling: 'ensemble' (several templates), 'none', or a template with {} "
                            "(repeatable; the text embeddings are averaged over the templates)")
    model.add_argument("--label-set", choices=sorted(LABEL_SETS),
                       help="classes for zero-shot prediction (default basic7)")
    model.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a model or runtime setting, e.g. --set runtime.cache_class_texts=false or "
                            "--set model.text_templates='[\"a photo of {}\"]' (model.*, runtime.*; repeatable)")
    win = parser.add_argument_group("windows")
    win.add_argument("--window", type=float, default=PredictOptions.window, metavar="SECONDS",
                     help="window length (default %(default)s)")
    win.add_argument("--stride", type=float, default=PredictOptions.stride, metavar="SECONDS",
                     help="time between window starts, at most the window length (default %(default)s)")
    win.add_argument("--batch-size", type=int, default=PredictOptions.batch_size,
                     help="windows per forward pass (default %(default)s)")
    win.add_argument("--sampling", choices=SAMPLINGS, default=PredictOptions.sampling,
                     help="frames per window: tsn segment centres (default) or csim, the frames that change most")
    win.add_argument("--min-face-fraction", type=float, default=PredictOptions.min_face_fraction, metavar="F",
                     help="a window has a face when at least this share of its frames has one "
                          "(default %(default)s)")
    win.add_argument("--no-face-detection", action="store_true",
                     help="use whole frames (for videos that are already cropped to the face)")
    win.add_argument("--compound", action="store_true",
                     help="also score the 7 C-EXPR-DB compound expressions (sum of the two basic probabilities)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", default="peclip-predictions", metavar="DIR",
                     help="folder for <name>.csv, <name>.json, <name>.png (default ./peclip-predictions)")
    out.add_argument("--overlay", action="store_true",
                     help="also write <name>_overlay.mp4 with the face box and the emotion on every frame")
    out.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    out.add_argument("--recursive", action="store_true", help="also look into sub-directories")
    out.add_argument("--device", default="cpu", help="torch device (default cpu)")
    out.add_argument("--precision", choices=INFERENCE_PRECISIONS, default=PredictOptions.precision,
                     help="auto (default): bf16 on CUDA and on CPUs with native bf16 (avx512_bf16/amx_bf16), fp32 "
                          "elsewhere; int8: the CPU's int8 vision tower on onnxruntime. `python "
                          "benchmarks/bench_cpu.py` measures which is fastest here and how closely each agrees "
                          "with fp32 (docs/performance.md)")
    out.add_argument("--int8", action="store_true", help="the same as --precision int8")
    out.add_argument("--prefetch-frames", type=int, default=PredictOptions.prefetch_frames, metavar="N",
                     help="decode and track faces on their own thread, up to N frames ahead of the model "
                          "(0: one after the other; default %(default)s)")


def _options(args: argparse.Namespace) -> PredictOptions:
    return PredictOptions(window=args.window, stride=args.stride, batch_size=args.batch_size, sampling=args.sampling,
                          min_face_fraction=args.min_face_fraction, compound=args.compound,
                          detect_faces=not args.no_face_detection, precision="int8" if args.int8 else args.precision,
                          prefetch_frames=args.prefetch_frames)


def _model_request(args: argparse.Namespace, options: PredictOptions):
    overrides = parse_overrides(args.set, "predict", ("model", "runtime"))
    templates = None if not args.templates else (args.templates[0] if len(args.templates) == 1 else args.templates)
    return dict(checkpoint=args.checkpoint, model=args.model, pretrained=args.pretrained, texts=args.texts,
                templates=templates, label_set=args.label_set, overrides=overrides.model, runtime=overrides.runtime,
                precision=options.precision, device=args.device)


def _print_summary(result, written: dict) -> None:
    summary = result.summary
    name = Path(result.source).name
    speed = f", {result.speed:.2f} video-s/s" if result.speed else ""
    print(f"{name}: {result.duration:.2f} s, {summary['windows']} windows, {summary['face_windows']} with a face "
          f"({result.elapsed:.1f} s{speed})")
    if result.random_weights:
        print(f"  WARNING {RANDOM_WEIGHTS_NOTE} (no fine-tuned checkpoint; pass --checkpoint RUN or "
              "--model clip-vit-b16 --pretrained openai)")
    for track in summary["tracks"]:
        print(f"  face track {track['track']}: {track['dominant']} for {100 * track['dominant_share']:.0f} % of "
              f"{track['seconds']:.1f} s")
    for kind, path in written.items():
        print(f"  {kind:<8} {path}")


def run(args: argparse.Namespace) -> int:
    options = _options(args)  # validate settings before the model is built
    if args.int8 and args.precision not in ("int8", PredictOptions.precision):
        raise ValueError(f"--int8 and --precision {args.precision} disagree; give --precision int8 alone")
    request = _model_request(args, options)
    # Deferred on purpose: the model stack imports torch, which `peclip --help` must not wait for.
    from tqdm import tqdm

    from peclip.predict.models import ModelRequest, build_model
    from peclip.predict.runner import predict_video

    files, failures = find_inputs(args.inputs, recursive=args.recursive)
    total = len(files) + len(failures)  # missing paths and empty directories count as failed inputs
    model = build_model(ModelRequest(**request))
    no_face: list[str] = []
    many = len(files) > 1
    stems = _unique_stems(files)
    for path in tqdm(files, desc="videos", unit="file", disable=not many):
        try:
            result = predict_video(model, path, options, progress=not many)
            written = result.save(args.output, stem=stems[path], plot=not args.no_plot, overlay=args.overlay)
        except _FILE_ERRORS as err:
            failures.append((str(path), str(err)))
            log.error("%s: %s", path, err)
            continue
        _print_summary(result, written)
        if not result.has_face:
            no_face.append(str(path))
    if failures or no_face:
        print(f"\n{len(failures) + len(no_face)} of {total} inputs gave no prediction:", file=sys.stderr)
        for path, message in failures:
            print(f"  {path}: {message}", file=sys.stderr)
        for path in no_face:
            print(f"  {path}: no face found (timeline written with face=false in every window)", file=sys.stderr)
        return 1
    return 0


def _unique_stems(files: list[Path]) -> dict[Path, str]:
    """Output names: the file stem; inputs sharing a stem get a running number (``clip``, ``clip-2``, ...)."""
    stems: dict[Path, str] = {}
    used: set[str] = set()
    for path in files:
        stem, n = path.stem, 1
        while stem in used:
            n += 1
            stem = f"{path.stem}-{n}"
        used.add(stem)
        stems[path] = stem
    return stems

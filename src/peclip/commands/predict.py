"""``peclip predict VIDEO_OR_DIR...``: emotion timelines (CSV, JSON, PNG, optional overlay MP4) for your videos."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from peclip.commands.arguments import (
    add_engine_argument,
    add_frame_selection_arguments,
    add_model_arguments,
    model_request,
)
from peclip.commands.face_flags import add_face_arguments, face_settings
from peclip.config import INFERENCE_PRECISIONS
from peclip.data.formats import IMAGE_SUFFIXES
from peclip.predict.inputs import find_inputs
from peclip.predict.options import DETECT_FRAMES, RANDOM_WEIGHTS_NOTE, PredictOptions

HELP = "predict the emotion over time in your own videos or images (fine-tuned checkpoint or zero-shot CLIP)"

log = logging.getLogger("peclip.commands.predict")

#: errors that concern one input file; a run reports them and goes on with the next file
_FILE_ERRORS = (ValueError, FileNotFoundError, RuntimeError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR",
                        help="video files, images or directories of them (an image gives one row per face, a bar "
                             "chart and the picture with labels; a video a timeline)")
    add_model_arguments(parser, "model (give --checkpoint, or --model for zero-shot)")
    win = parser.add_argument_group("windows")
    win.add_argument("--window", type=float, default=PredictOptions.window, metavar="SECONDS",
                     help="window length (default %(default)s)")
    win.add_argument("--stride", type=float, default=PredictOptions.stride, metavar="SECONDS",
                     help="time between window starts, at most the window length (default %(default)s)")
    win.add_argument("--batch-size", type=int, default=PredictOptions.batch_size,
                     help="windows per forward pass (default %(default)s)")
    add_frame_selection_arguments(win, PredictOptions)
    win.add_argument("--strict", action="store_true",
                     help="a video that decodes only in part (truncated or damaged) is an error, not a result "
                          "marked complete: false")
    win.add_argument("--compound", action="store_true",
                     help="also score the 7 C-EXPR-DB compound expressions (sum of the two basic probabilities)")
    add_face_arguments(parser, keep_unset=True)
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", default="peclip-predictions", metavar="DIR",
                     help="folder for <name>.csv, <name>.json, <name>.png (default ./peclip-predictions)")
    out.add_argument("--overlay", action="store_true",
                     help="also write <name>_overlay.mp4 with the face box and the emotion on every frame")
    out.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    out.add_argument("--recursive", action="store_true", help="also look into sub-directories")
    out.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_engine_argument(out, "--checkpoint")
    out.add_argument("--precision", choices=INFERENCE_PRECISIONS, default=PredictOptions.precision,
                     help="auto (default): bf16 on CUDA and on CPUs with native bf16 (avx512_bf16/amx_bf16), fp32 "
                          "elsewhere; int8: the CPU's int8 vision tower on onnxruntime. `peclip bench-cpu` "
                          "measures which is fastest here and how closely each agrees with fp32 "
                          "(docs/performance.md)")
    out.add_argument("--int8", action="store_true", help="the same as --precision int8")
    out.add_argument("--detect-frames", choices=DETECT_FRAMES, default=PredictOptions.detect_frames,
                     help="every: the face detector on every --detect-every-th frame (as prepare); sampled: only on "
                          "the frames the windows' TSN sampling picks (fewer detections; crops differ slightly); "
                          "auto (default): sampled under --precision int8, every otherwise")
    out.add_argument("--prefetch-frames", type=int, default=PredictOptions.prefetch_frames, metavar="N",
                     help="decode and track faces on their own thread, up to N frames ahead of the model "
                          "(0: one after the other; default %(default)s)")


def _options(args: argparse.Namespace) -> PredictOptions:
    return PredictOptions(window=args.window, stride=args.stride, batch_size=args.batch_size, sampling=args.sampling,
                          min_face_fraction=args.min_face_fraction, compound=args.compound,
                          detect_faces=not args.no_face_detection, strict=args.strict,
                          precision="int8" if args.int8 else args.precision, prefetch_frames=args.prefetch_frames,
                          detect_frames=args.detect_frames)


def _print_summary(result, written: dict) -> None:
    summary = result.summary
    name = Path(result.source).name
    speed = f", {result.speed:.2f} video-s/s" if result.speed else ""
    print(f"{name}: {result.duration:.2f} s, {summary['windows']} windows, {summary['face_windows']} with a face "
          f"({result.elapsed:.1f} s{speed})")
    if not result.complete:
        print(f"  WARNING incomplete video: {result.decode.get('decode_warning', '')}; the timeline covers only "
              "what was decoded (complete: false in the JSON; --strict makes this an error)")
    if result.random_weights:
        print(f"  WARNING {RANDOM_WEIGHTS_NOTE} (no fine-tuned checkpoint; pass --checkpoint RUN or "
              "--model clip-vit-b16 --pretrained openai)")
    for track in summary["tracks"]:
        print(f"  person (face track) {track['track']}: {track['dominant']} for "
              f"{100 * track['dominant_share']:.0f} % of {track['seconds']:.1f} s")
    for kind, path in written.items():
        print(f"  {kind:<8} {path}")


def run(args: argparse.Namespace) -> int:
    options = _options(args)  # validate settings before the model is built
    if args.int8 and args.precision not in ("int8", PredictOptions.precision):
        raise ValueError(f"--int8 and --precision {args.precision} disagree; give --precision int8 alone")
    request = model_request(args, "predict", precision=options.precision, device=args.device, engine=args.engine)
    faces = face_settings(args)
    # Deferred on purpose: the model stack imports torch, which `peclip --help` must not wait for.
    from tqdm import tqdm

    from peclip.atomic import check_output_dir
    from peclip.predict.models import ModelRequest, build_model
    from peclip.predict.stills import write_face_table

    check_output_dir(args.output, "--output")  # before any model is built or video decoded
    files, failures = find_inputs(args.inputs, recursive=args.recursive)
    total = len(files) + len(failures)  # missing paths and empty directories count as failed inputs
    model = build_model(ModelRequest(**request))
    no_face: list[str] = []
    many = len(files) > 1
    stems = _unique_stems(files)
    images = []
    for path in tqdm(files, desc="inputs", unit="file", disable=not many):
        try:
            result, written = _predict_one(model, path, stems[path], options, faces, args, progress=not many)
        except _FILE_ERRORS as err:
            failures.append((str(path), str(err)))
            log.error("%s: %s", path, err)
            continue
        is_image = path.suffix.lower() in IMAGE_SUFFIXES
        (_print_image_summary if is_image else _print_summary)(result, written)
        images += [result] if is_image else []
        if not result.has_face:
            no_face.append(str(path))
    if len(images) > 1:
        print(f"faces of all {len(images)} images: {write_face_table(images, args.output)}")
    return _report_failures(failures, no_face, total)


def _predict_one(model, path: Path, stem: str, options: PredictOptions, faces: dict, args: argparse.Namespace,
                 progress: bool):
    """One input: a photo (one row per face, a bar chart, the labels drawn) or a video (a timeline)."""
    # Deferred on purpose (see run).
    from peclip.predict.runner import predict_video
    from peclip.predict.stills import predict_image

    if path.suffix.lower() in IMAGE_SUFFIXES:
        result = predict_image(model, path, detect_faces=options.detect_faces, batch_size=options.batch_size,
                               face_settings=faces)
        return result, result.save(args.output, stem=stem, plot=not args.no_plot)
    result = predict_video(model, path, options, progress=progress, face_settings=faces)
    return result, result.save(args.output, stem=stem, plot=not args.no_plot, overlay=args.overlay)


def _report_failures(failures: list, no_face: list[str], total: int) -> int:
    if not (failures or no_face):
        return 0
    print(f"\n{len(failures) + len(no_face)} of {total} inputs gave no prediction:", file=sys.stderr)
    for path, message in failures:
        print(f"  {path}: {message}", file=sys.stderr)
    for path in no_face:
        what = ("no rows written" if Path(path).suffix.lower() in IMAGE_SUFFIXES
                else "timeline written with face=false in every window")
        print(f"  {path}: no face found ({what})", file=sys.stderr)
    return 1


def _print_image_summary(result, written: dict) -> None:
    print(f"{Path(result.source).name}: {len(result.boxes)} face(s) ({result.elapsed:.1f} s)")
    if result.random_weights:
        print(f"  WARNING {RANDOM_WEIGHTS_NOTE} (no fine-tuned checkpoint; pass --checkpoint RUN or "
              "--model clip-vit-b16 --pretrained openai)")
    for row in result.rows:
        print(f"  face {row['face']} at ({row['x0']:.0f}, {row['y0']:.0f}, {row['x1']:.0f}, {row['y1']:.0f}): "
              f"{row['top']} {row['top_probability']:.2f}")
    for kind, path in written.items():
        print(f"  {kind:<8} {path}")


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

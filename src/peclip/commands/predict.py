"""``peclip predict VIDEO_OR_DIR...``: emotion timelines (CSV, JSON, PNG, optional overlay MP4) for your videos."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from peclip.labels import LABEL_SETS, TEXT_KINDS

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
    win = parser.add_argument_group("windows")
    win.add_argument("--window", type=float, default=2.0, metavar="SECONDS", help="window length (default 2.0)")
    win.add_argument("--stride", type=float, default=1.0, metavar="SECONDS",
                     help="time between window starts, at most the window length (default 1.0)")
    win.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    win.add_argument("--sampling", choices=("tsn", "csim"), default="tsn",
                     help="frames per window: tsn segment centres (default) or csim, the frames that change most")
    win.add_argument("--min-face-fraction", type=float, default=0.5, metavar="F",
                     help="a window has a face when at least this share of its frames has one (default 0.5)")
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
    out.add_argument("--int8", action="store_true",
                     help="CPU only: int8 dynamically quantised vision tower (about 1.6x faster for ViT-B/16 "
                          "on a 2-core CPU; top-1 agreed with fp32 on 32/32 random clips)")


def build_model(args: argparse.Namespace):
    """The model the arguments ask for: a checkpoint, or a zero-shot CLIP; errors say what to pass."""
    import peclip
    from peclip.predict.zeroshot import resolve_templates, zero_shot_model
    from peclip.train.run import resolve_checkpoint

    if args.checkpoint and args.model:
        raise ValueError("give either --checkpoint RUN (a fine-tuned model) or --model NAME (zero-shot), not both")
    if not args.checkpoint and not args.model:
        raise ValueError("no model given: pass --checkpoint RUN for a fine-tuned model, or --model clip-vit-b16 "
                         "--pretrained openai for zero-shot prediction with CLIP and the class texts")
    templates = _templates(args.templates)
    if args.model:
        model = zero_shot_model(args.model, pretrained=args.pretrained, texts=args.texts or "au",
                                templates=templates, label_set=args.label_set)
    else:
        if args.label_set:
            raise ValueError("--label-set applies to zero-shot models only; a checkpoint keeps its own classes")
        directory = resolve_checkpoint(args.checkpoint)  # a run folder or a checkpoint folder
        overrides = {"text_templates": resolve_templates(templates)} if templates is not None else {}
        model = peclip.load(directory, pretrained=args.pretrained, **overrides)
        if args.texts:
            log.warning("replacing the class texts the checkpoint was trained with by the %r texts", args.texts)
            model.set_class_texts(_texts_for(model.class_names, args.texts), model.class_names)
    if args.int8:
        if args.device != "cpu":
            raise ValueError(f"--int8 is a CPU inference path; drop it or use --device cpu (got {args.device!r})")
        from peclip.perf import quantize_int8

        return quantize_int8(model.eval())
    return model.to(args.device).eval()


def _templates(values: list[str] | None) -> str | list[str] | None:
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _texts_for(class_names: list[str], kind: str) -> list[str]:
    from peclip.labels import LABEL_SETS

    for label_set in LABEL_SETS.values():
        if set(class_names) <= set(label_set.classes):
            return [label_set.texts(kind)[label_set.index(c)] for c in class_names]
    raise ValueError(f"--texts {kind} needs classes from a built-in label set; this checkpoint's classes are "
                     f"{', '.join(class_names)}")


def _options(args: argparse.Namespace):
    from peclip.predict import PredictOptions

    return PredictOptions(window=args.window, stride=args.stride, batch_size=args.batch_size, sampling=args.sampling,
                          min_face_fraction=args.min_face_fraction, compound=args.compound,
                          detect_faces=not args.no_face_detection)


def _print_summary(result, written: dict) -> None:
    summary = result.summary
    name = Path(result.source).name
    speed = f", {result.speed:.2f} video-s/s" if result.speed else ""
    print(f"{name}: {result.duration:.2f} s, {summary['windows']} windows, {summary['face_windows']} with a face "
          f"({result.elapsed:.1f} s{speed})")
    for track in summary["tracks"]:
        print(f"  face track {track['track']}: {track['dominant']} for {100 * track['dominant_share']:.0f} % of "
              f"{track['seconds']:.1f} s")
    for kind, path in written.items():
        print(f"  {kind:<8} {path}")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from peclip.predict import find_inputs, predict_video

    options = _options(args)  # validate settings before the model is built
    files, failures = find_inputs(args.inputs, recursive=args.recursive)
    total = len(files) + len(failures)  # missing paths and empty directories count as failed inputs
    model = build_model(args)
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

"""Argument groups that several commands share, so each flag means the same thing everywhere."""

from __future__ import annotations

import argparse

from peclip.config import PRECISIONS
from peclip.evaluation.options import EvalRequest
from peclip.labels import LABEL_SETS, TEXT_KINDS
from peclip.overrides import parse_overrides
from peclip.predict.options import ENGINES, SAMPLINGS


def add_model_arguments(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """``--checkpoint`` / ``--model`` and what shapes the model (``predict``, ``explain``); the group, for more."""
    model = parser.add_argument_group(title)
    model.add_argument("--checkpoint", metavar="RUN",
                       help="a fine-tuned model: a training run folder, a checkpoint folder (config.json + "
                            "trainable.safetensors) or hf-hub:ORG/NAME")
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
    return model


def add_frame_selection_arguments(group: argparse._ArgumentGroup, defaults) -> None:
    """``--sampling``, ``--min-face-fraction`` and ``--no-face-detection``: which frames of a window are
    scored (``predict``, ``live``, ``explain``); ``defaults`` is the command's options class."""
    group.add_argument("--sampling", choices=SAMPLINGS, default=defaults.sampling,
                       help="frames per window: tsn segment centres (default) or csim, the frames that change most")
    group.add_argument("--min-face-fraction", type=float, default=defaults.min_face_fraction, metavar="F",
                       help="a window has a face when at least this share of its frames shows it "
                            "(default %(default)s)")
    group.add_argument("--no-face-detection", action="store_true",
                       help="use whole frames (for videos that are already cropped to the face)")


def add_engine_argument(group: argparse._ArgumentGroup | argparse.ArgumentParser, where: str) -> None:
    """``--engine torch|onnx``: what runs the model (``predict``, ``live``, ``eval``, ``explain``); ``where``
    says how the command is given the exported file."""
    group.add_argument("--engine", choices=ENGINES, default="torch",
                       help=f"torch (default) or onnx: run a light model exported by `peclip export` ({where} "
                            "MODEL.onnx) through onnxruntime on the CPU (docs/light.md)")


def model_request(args: argparse.Namespace, command: str, **extra) -> dict:
    """The fields of a :class:`peclip.predict.models.ModelRequest` from :func:`add_model_arguments`' flags."""
    overrides = parse_overrides(args.set, command, ("model", "runtime"))
    templates = None if not args.templates else (args.templates[0] if len(args.templates) == 1 else args.templates)
    return dict(checkpoint=args.checkpoint, model=args.model, pretrained=args.pretrained, texts=args.texts,
                templates=templates, label_set=args.label_set, overrides=overrides.model, runtime=overrides.runtime,
                **extra)


def add_saved_data_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """Which data a saved model reads and how (``eval``, ``embed``): the fields of ``train.eval_saved.EvalJob``."""
    parser.add_argument("--manifest", help="annotation folder or file of a named dataset")
    parser.add_argument("--root", help="folder the manifest's clip paths are relative to")
    parser.add_argument("--fold", type=int, help="fold of DFEW/MAFW (or of a manifest's fold column)")
    parser.add_argument("--split", default=EvalRequest.split, help=f"split to {verb} (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set data.num_workers=8 or --set runtime.cache_class_texts="
                             "false (data.*, model.*, runtime.*; repeatable)")
    parser.add_argument("--batch-size", type=int, default=EvalRequest.batch_size,
                        help="clips per forward pass (default %(default)s)")
    parser.add_argument("--device", default=EvalRequest.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--precision", default=EvalRequest.precision, choices=PRECISIONS)
    parser.add_argument("--pretrained", help="CLIP weights (tag or file) if not the ones recorded in the checkpoint; "
                        "'none' keeps random CLIP weights")


def saved_job_fields(args: argparse.Namespace, command: str, source: str, data: str | None) -> dict:
    """The fields of ``train.eval_saved.EvalJob`` from :func:`add_saved_data_arguments`' flags."""
    overrides = parse_overrides(args.set, command, ("model", "runtime", "data"))
    return dict(source=source, data=data, manifest=args.manifest, root=args.root, fold=args.fold, split=args.split,
                batch_size=args.batch_size, device=args.device, precision=args.precision, pretrained=args.pretrained,
                data_changes=overrides.data, model_overrides=overrides.model, runtime=overrides.runtime)

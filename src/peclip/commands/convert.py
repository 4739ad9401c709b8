"""``peclip convert``: official PE-CLIP checkpoints (``.pth``) <-> peclip checkpoint folders."""

from __future__ import annotations

import argparse

from peclip.overrides import parse_overrides

HELP = "convert a checkpoint of the official PE-CLIP script into a peclip checkpoint folder (or back)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the official script's .pth file (or, with --to official, a peclip "
                        "checkpoint or run folder)")
    parser.add_argument("-o", "--output", required=True, help="the checkpoint folder to write (with --to official: "
                        "the .pth file)")
    parser.add_argument("--to", choices=("peclip", "official"), default="peclip",
                        help="peclip (default): official .pth -> peclip folder; official: the inverse")
    parser.add_argument("--model", default="peclip-vit-b16", help="the peclip model the checkpoint was trained as "
                        "(default peclip-vit-b16); prompt length and depth are read from the checkpoint")
    parser.add_argument("--pretrained", help="the frozen CLIP weights (tag or file) to record (default openai); "
                        "with --to official, a CLIP file to include in the .pth")
    parser.add_argument("--with-backbone", action="store_true", help="take the frozen CLIP weights from the "
                        "checkpoint itself (written beside the trainable weights as clip.safetensors)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model config field, e.g. --set label_set=mafw11 (repeatable)")


def run(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args.set, "convert", ("model",)).model
    # Deferred on purpose: conversion imports torch, which `peclip --help` must not wait for.
    from peclip import official

    if args.to == "official":
        if args.with_backbone or args.set:
            raise ValueError("--with-backbone and --set apply to --to peclip; the peclip folder carries its config")
        out = official.peclip_to_official(args.source, args.output, pretrained=args.pretrained)
        print(f"wrote {out} (official PE-CLIP layout, keys 'module.'...)")
        return 0
    if args.with_backbone and args.pretrained:
        raise ValueError("give either --with-backbone (CLIP from the checkpoint) or --pretrained, not both")
    out = official.official_to_peclip(args.source, args.output, model=args.model,
                                      pretrained=args.pretrained or "openai", with_backbone=args.with_backbone,
                                      overrides=overrides)
    print(f"wrote {out} (peclip checkpoint, faithful mode: temporal.per_video=false); load it with peclip.load")
    return 0

"""``peclip export RUN --onnx OUT.onnx``: a trained light model as ONNX, checked against torch."""

from __future__ import annotations

import argparse

HELP = "export a trained light model (shuffvit-dfer, shuffvit-dfer-t) to ONNX for onnxruntime (predict --engine onnx)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="RUN", help="a training run folder or a checkpoint folder")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")


def run(args: argparse.Namespace) -> int:
    # Deferred on purpose: the export imports torch and onnx, which `peclip --help` must not wait for.
    from peclip.predict.onnx import export_checkpoint

    path, difference = export_checkpoint(args.checkpoint, args.onnx)
    print(f"wrote {path} (onnxruntime vs torch on a random batch: max |logit difference| {difference:.2e})")
    return 0

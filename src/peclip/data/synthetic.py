"""Synthetic clips whose class only a temporal model can tell: a coloured square moving in one direction.

Each clip shows a square of random colour and size on a random, slightly noisy background, sliding
across the frame. The class is the direction of motion (``right``, ``left`` and, with four classes,
``down``, ``up``). Reversing a clip in time swaps ``right`` and ``left``, and the start position is
drawn so that both directions cover the same places: every single frame, and the *set* of frames of
a clip, is equally likely under either class. A model that mean-pools independent frame embeddings
is therefore at chance; only one that models order in time (PE-CLIP's TDA) can learn the task.

Used by tests and demos: :class:`MotionClips` is an in-memory dataset, and
:func:`write_motion_dataset` writes the clips as frame folders plus train/test annotation files.

The still variant (:class:`ShapeSpec`, :func:`write_shape_dataset`) is the opposite: a shape whose
class one image shows, written as a folder-per-class tree of PNG images (docs/stills.md).
Everything is a pure function of ``(seed, index)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

DIRECTIONS = ("right", "left", "down", "up")
_STEPS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (d_row, d_col)


@dataclass(frozen=True)
class MotionSpec:
    """The synthetic task: ``num_classes`` directions (2: right/left; 4: also down/up), clip shape."""

    num_classes: int = 2
    num_frames: int = 8
    size: int = 32
    noise: float = 6.0  # std of the per-pixel background noise, in 0..255 units
    colours: str = "random"  # "random": square and background colours drawn per clip; "fixed": white on black

    def __post_init__(self) -> None:
        if self.num_classes not in (2, 4):
            raise ValueError(f"num_classes={self.num_classes!r}: the motion task has 2 (right/left) or 4 classes")
        if self.num_frames < 2:
            raise ValueError(f"num_frames={self.num_frames!r} must be >= 2: motion needs at least two frames")
        if self.colours not in ("random", "fixed"):
            raise ValueError(f"colours={self.colours!r} is not valid; choose 'random' or 'fixed'")
        if self.size < 8:
            raise ValueError(f"size={self.size!r} must be >= 8 pixels")

    @property
    def classes(self) -> list[str]:
        return list(DIRECTIONS[: self.num_classes])


def motion_clip(label: int, spec: MotionSpec, rng: np.random.Generator) -> np.ndarray:
    """One clip ``(T, H, W, 3)`` uint8 of a square moving in direction ``spec.classes[label]``."""
    t, size = spec.num_frames, spec.size
    side = int(rng.integers(size // 4, size // 3 + 1))
    room = size - side  # the square's top-left corner lives in [0, room]
    travel = int(rng.integers(room * 2 // 3, room + 1))  # distance covered over the clip
    start = int(rng.integers(0, room - travel + 1))  # along the motion axis
    across = int(rng.integers(0, room + 1))  # the other axis, fixed
    if spec.colours == "fixed":
        background, colour = np.zeros(3), np.full(3, 255)
    else:
        background = rng.integers(0, 256, 3)
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - background).sum() < 150:  # keep the square visible
            colour = 255 - background
    d_row, d_col = _STEPS[DIRECTIONS[label]]
    path = [start + round(travel * i / (t - 1)) for i in range(t)]
    if d_row + d_col < 0:  # left/up run the very same path backwards in time
        path = path[::-1]
    frames = background + rng.normal(0.0, spec.noise, (t, size, size, 3))  # (T, H, W, 3)
    for i, along in enumerate(path):
        row, col = (along, across) if d_row else (across, along)
        frames[i, row:row + side, col:col + side] = colour
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def clip_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


class MotionClips(Dataset):
    """``num_clips`` balanced clips in memory: item ``i`` is ``(video (T, 3, H, W) float in [0, 1], label)``."""

    def __init__(self, num_clips: int, spec: MotionSpec | None = None, seed: int = 0):
        if num_clips < 1:
            raise ValueError(f"num_clips={num_clips!r} must be >= 1")
        self.spec = spec or MotionSpec()
        self.seed = seed
        self.labels = [i % self.spec.num_classes for i in range(num_clips)]
        frames = np.stack([motion_clip(y, self.spec, clip_rng(seed, i)) for i, y in enumerate(self.labels)])
        # (N, T, H, W, 3) uint8 -> (N, T, 3, H, W) float in [0, 1]
        self.videos = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float().div_(255)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.videos[index], self.labels[index]


def write_motion_dataset(root: str | Path, num_train: int = 64, num_test: int = 32,
                         spec: MotionSpec | None = None, seed: int = 0) -> dict[str, Path]:
    """Write clips as PNG frame folders and annotation files; returns ``{"train": path, "test": path}``.

    Layout: ``root/frames/<split>/<id>/00000.png ...`` and ``root/<split>.txt`` with one line per clip,
    ``<frame folder relative to root> <num_frames> <label>`` (the official annotation format, docs/spec.md 4.2),
    plus ``root/classes.txt`` with the class names in label order.
    """
    from PIL import Image

    spec = spec or MotionSpec()
    root = Path(root)
    annotations = {}
    for split, count, offset in (("train", num_train, 0), ("test", num_test, 1_000_000)):
        lines = []
        for i in range(count):
            label = i % spec.num_classes
            clip = motion_clip(label, spec, clip_rng(seed, offset + i))
            folder = Path("frames") / split / f"{i:05d}"
            (root / folder).mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(clip):
                Image.fromarray(frame).save(root / folder / f"{t:05d}.png")
            lines.append(f"{folder.as_posix()} {spec.num_frames} {label}")
        path = root / f"{split}.txt"
        path.write_text("\n".join(lines) + "\n")
        annotations[split] = path
    (root / "classes.txt").write_text("\n".join(spec.classes) + "\n")
    log.info("wrote %d train and %d test synthetic clips under %s", num_train, num_test, root)
    return annotations


# ------------------------------------------------------------------------------------ the still task

SHAPES = ("hbar", "vbar", "square", "cross")


@dataclass(frozen=True)
class ShapeSpec:
    """The still task: a shape whose class one image shows (``hbar``/``vbar``; with four classes also
    ``square``/``cross``), of random size and place, on a noisy background."""

    num_classes: int = 2
    size: int = 32
    noise: float = 6.0
    colours: str = "random"

    def __post_init__(self) -> None:
        if self.num_classes not in (2, 4):
            raise ValueError(f"num_classes={self.num_classes!r}: the still task has 2 (hbar/vbar) or 4 classes")
        if self.colours not in ("random", "fixed"):
            raise ValueError(f"colours={self.colours!r} is not valid; choose 'random' or 'fixed'")
        if self.size < 16:
            raise ValueError(f"size={self.size!r} must be >= 16 pixels")

    @property
    def classes(self) -> list[str]:
        return list(SHAPES[: self.num_classes])


def shape_image(label: int, spec: ShapeSpec, rng: np.random.Generator) -> np.ndarray:
    """One image ``(H, W, 3)`` uint8 showing shape ``spec.classes[label]``."""
    size = spec.size
    long = int(rng.integers(size * 5 // 8, size * 7 // 8 + 1))  # bar length / square side
    thick = int(rng.integers(max(2, size // 8), size // 5 + 1))  # bar thickness
    if spec.colours == "fixed":
        background, colour = np.zeros(3), np.full(3, 255)
    else:
        background, colour = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if np.abs(colour - background).sum() < 150:  # keep the shape visible
            colour = 255 - background
    image = background + rng.normal(0.0, spec.noise, (size, size, 3))  # (H, W, 3)
    top, left = (int(rng.integers(0, size - long + 1)) for _ in range(2))
    name = SHAPES[label]
    mid_r = top + int(rng.integers(0, long - thick + 1))
    mid_c = left + int(rng.integers(0, long - thick + 1))
    if name == "hbar":
        image[mid_r:mid_r + thick, left:left + long] = colour
    elif name == "vbar":
        image[top:top + long, mid_c:mid_c + thick] = colour
    elif name == "square":
        side = long * 3 // 4
        image[top:top + side, left:left + side] = colour
    else:  # cross: both bars through the same centre
        centre = long // 2 - thick // 2
        image[top + centre:top + centre + thick, left:left + long] = colour
        image[top:top + long, left + centre:left + centre + thick] = colour
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def write_shape_dataset(root: str | Path, num_train: int = 64, num_test: int = 32, spec: ShapeSpec | None = None,
                        seed: int = 0) -> Path:
    """Write the still task as a folder-per-class tree ``root/<train|test>/<class>/<id>.png`` (the
    ``folders`` still-set layout, docs/stills.md) and ``root/manifest.csv`` (``path,label,split`` with
    label indices); returns ``root``."""
    from PIL import Image

    spec = spec or ShapeSpec()
    root = Path(root)
    rows = ["path,label,split"]
    for split, count, offset in (("train", num_train, 0), ("test", num_test, 1_000_000)):
        for i in range(count):
            label = i % spec.num_classes
            folder = root / split / spec.classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(shape_image(label, spec, clip_rng(seed, offset + i))).save(folder / f"{i:05d}.png")
            rows.append(f"{split}/{spec.classes[label]}/{i:05d}.png,{label},{split}")
    # The class names are the task's own (no label set has them), so a CSV manifest gives label indices.
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    log.info("wrote %d train and %d test synthetic stills under %s", num_train, num_test, root)
    return root

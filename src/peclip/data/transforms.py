"""Clip-consistent transforms (docs/spec.md 2.3): every random parameter is drawn once per clip.

Train recipes (the official code's, per dataset):

- ``dfew`` / ``afew``: brightness jitter (factor U[0.5, 1.5]) -> GroupRandomSizedCrop(S) -> flip (p 0.5)
- ``ferv39k``: rotation U[-4, 4] degrees (nearest, black fill) -> GroupRandomSizedCrop(S) -> flip
- ``mafw``: GroupRandomSizedCrop(S) -> flip (DFER-CLIP)
- ``shuffvit``: ShuffViT-DFER's (arXiv 2409.03438, the authors' code): rotation up to 40 degrees,
  ColorJitter(0.2, 0.2, 0.2, 0.1), RandomAffine(40 degrees, scale 0.3-1.1, shear 0.15), GaussianBlur(5),
  resize to S -> flip. The authors flip first; a mirror commutes with the rest in distribution.
- ``none``: the test transform

Test: a direct resize to ``S x S`` (bilinear, aspect ratio not kept). Pixels are then scaled to [0, 1]
(faithful, docs/spec.md 10 A7); a model built with ``normalize_input`` standardises them itself.

The work happens on one ``(T, 3, H, W)`` uint8 tensor, so each operation touches all frames with the
same parameters. Random draws come from a ``torch.Generator`` (or a seed), so a clip is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

from peclip.data.config import DataConfig

Generator = torch.Generator | int | None


def _generator(generator: Generator) -> torch.Generator | None:
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    return generator


def _uniform(g: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _randint(g: torch.Generator | None, low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (both ends included, like ``random.randint``)."""
    return int(torch.randint(low, high + 1, (), generator=g))


def _scale_brightness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    # float in channels-last layout (the resize that follows is fastest on it), truncated to uint8 as
    # PIL's blend does
    scaled = clip.to(torch.float32, memory_format=torch.channels_last)
    scaled.mul_(factor).clamp_(0, 255)
    return scaled.to(torch.uint8)


def brightness(clip: torch.Tensor, g: torch.Generator | None, strength: float = 0.5) -> torch.Tensor:
    """ColorJitter(brightness=strength): scale by one factor in U[max(0, 1-s), 1+s], clamp, truncate to
    uint8 as PIL's blend does."""
    return _scale_brightness(clip, _uniform(g, max(0.0, 1.0 - strength), 1.0 + strength))


def brightness_then_crop(clip: torch.Tensor, g: torch.Generator | None, size: int,
                         strength: float = 0.5) -> torch.Tensor:
    """``brightness`` followed by ``random_sized_crop``, with the same draws in the same order, but the
    pixel-wise brightness applied only to the cropped region (identical result, less work)."""
    factor = _uniform(g, max(0.0, 1.0 - strength), 1.0 + strength)
    return random_sized_crop(clip, g, size, pointwise=lambda c: _scale_brightness(c, factor))


def rotation(clip: torch.Tensor, g: torch.Generator | None, degrees: float = 4.0) -> torch.Tensor:
    """RandomRotation(degrees): one angle in U[-d, d], counter-clockwise about the image centre, nearest
    neighbour, black corners, size kept: PIL's ``Image.rotate``, as the official code calls it. (PIL,
    not OpenCV: OpenCV's thread pool can hang in forked DataLoader workers.)"""
    angle = _uniform(g, -degrees, degrees)
    frames = clip.permute(0, 2, 3, 1).numpy()  # (T, 3, H, W) view -> (T, H, W, 3)
    rotated = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f)).rotate(angle)) for f in frames])
    return torch.from_numpy(rotated).permute(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W) channels-last view


def random_sized_crop(clip: torch.Tensor, g: torch.Generator | None, size: int,
                      pointwise: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """GroupRandomSizedCrop(size) (docs/spec.md 2.3): area fraction U[0.08, 1], aspect U[3/4, 4/3], w and h
    swapped with p 0.5, up to 10 tries; crop, then bilinear resize to ``size x size``. When no try fits,
    scale the shorter side to ``size`` and take a random ``size x size`` crop. ``pointwise`` (a per-pixel
    operation that precedes the crop) is applied to the cropped region only."""
    height, width = clip.shape[-2:]
    for _ in range(10):
        target_area = _uniform(g, 0.08, 1.0) * width * height
        aspect = _uniform(g, 3.0 / 4.0, 4.0 / 3.0)
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if _uniform(g, 0.0, 1.0) < 0.5:
            w, h = h, w
        if w <= width and h <= height:
            x1 = _randint(g, 0, width - w)
            y1 = _randint(g, 0, height - h)
            crop = clip[..., y1:y1 + h, x1:x1 + w]  # (T, 3, h, w)
            if pointwise is not None:
                crop = pointwise(crop)
            return F.resize(crop, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    # Fallback: GroupScale(size) (shorter side to size, as torchvision's Resize(int)) + GroupRandomCrop.
    if pointwise is not None:
        clip = pointwise(clip)
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    scaled = F.resize(clip, [new_h, new_w], interpolation=InterpolationMode.BILINEAR, antialias=True)
    x1 = _randint(g, 0, new_w - size)
    y1 = _randint(g, 0, new_h - size)
    return scaled[..., y1:y1 + size, x1:x1 + size]


def horizontal_flip(clip: torch.Tensor, g: torch.Generator | None, p: float = 0.5) -> torch.Tensor:
    """Mirror every frame with probability ``p`` (one draw for the clip)."""
    return clip.flip(-1) if _uniform(g, 0.0, 1.0) < p else clip


def resize(clip: torch.Tensor, size: int) -> torch.Tensor:
    """GroupResize(size): direct bilinear resize to ``size x size``, aspect ratio not kept."""
    if tuple(clip.shape[-2:]) == (size, size):
        return clip
    return F.resize(clip, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)


def color_jitter(clip: torch.Tensor, g: torch.Generator | None, brightness: float = 0.2, contrast: float = 0.2,
                 saturation: float = 0.2, hue: float = 0.1) -> torch.Tensor:
    """ColorJitter(b, c, s, h): each factor drawn once per clip, applied in a random order (torchvision's rule)."""
    order = torch.randperm(4, generator=g).tolist()
    factors = [_uniform(g, max(0.0, 1 - brightness), 1 + brightness), _uniform(g, max(0.0, 1 - contrast), 1 + contrast),
               _uniform(g, max(0.0, 1 - saturation), 1 + saturation), _uniform(g, -hue, hue)]
    ops = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
    for i in order:
        clip = ops[i](clip, factors[i])
    return clip


def affine(clip: torch.Tensor, g: torch.Generator | None, degrees: float = 40.0, scale: tuple = (0.3, 1.1),
           shear: float = 0.15) -> torch.Tensor:
    """RandomAffine(degrees, scale, shear): one angle, scale and x-shear per clip; no translation, black fill."""
    angle = _uniform(g, -degrees, degrees)
    factor = _uniform(g, *scale)
    shear_x = _uniform(g, -shear, shear)
    return F.affine(clip, angle=angle, translate=[0, 0], scale=factor, shear=[shear_x, 0.0],
                    interpolation=InterpolationMode.NEAREST)


def rotate(clip: torch.Tensor, g: torch.Generator | None, degrees: float = 40.0) -> torch.Tensor:
    """RandomRotation(degrees) in torchvision: one angle in U[-d, d], nearest neighbour, black corners."""
    return F.rotate(clip, _uniform(g, -degrees, degrees), interpolation=InterpolationMode.NEAREST)


def gaussian_blur(clip: torch.Tensor, g: torch.Generator | None, kernel: int = 5,
                  sigma: tuple = (0.1, 2.0)) -> torch.Tensor:
    """GaussianBlur(kernel): one sigma in U[0.1, 2] per clip (torchvision's default range)."""
    s = _uniform(g, *sigma)
    return F.gaussian_blur(clip, [kernel, kernel], [s, s])


def _resize_step(clip: torch.Tensor, g: torch.Generator | None, size: int) -> torch.Tensor:
    return resize(clip, size)


Step = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def _augment_steps(size: int) -> dict[str, list[Step]]:
    """The train-time augmentation presets as data: name -> the steps after which a flip follows."""
    return {
        "dfew": [partial(brightness_then_crop, size=size)],
        "afew": [partial(brightness_then_crop, size=size)],
        "ferv39k": [rotation, partial(random_sized_crop, size=size)],
        "mafw": [partial(random_sized_crop, size=size)],
        "shuffvit": [rotate, color_jitter, affine, gaussian_blur, partial(_resize_step, size=size)],
    }


class ClipTransform:
    """``(T, H, W, 3)`` uint8 frames (numpy or torch) -> ``(T, 3, S, S)`` float32, one draw per clip.

    Call as ``transform(frames, generator)``; ``generator`` is a ``torch.Generator``, an int seed, or
    ``None`` (torch's global generator).
    """

    def __init__(self, size: int, augment: str, train: bool):
        self.size, self.augment, self.train = size, augment, train
        presets = _augment_steps(size)
        if augment != "none" and augment not in presets:
            raise ValueError(f"augment={augment!r} is not valid; choose one of: {', '.join(presets)}, none")
        if train and augment != "none":
            self.steps: list[Step] = [*presets[augment], horizontal_flip]
        else:
            self.steps = [partial(_resize_step, size=size)]

    def __call__(self, frames: np.ndarray | torch.Tensor, generator: Generator = None) -> torch.Tensor:
        g = _generator(generator)
        if isinstance(frames, np.ndarray):
            # read-only arrays (np.asarray of a PIL image) are copied: torch refuses to wrap them silently
            clip = torch.from_numpy(frames if frames.flags.writeable else frames.copy())
        else:
            clip = frames
        if clip.dtype != torch.uint8 or clip.ndim != 4 or clip.shape[-1] != 3:
            raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {tuple(clip.shape)} {clip.dtype}")
        # (T, H, W, 3) -> (T, 3, H, W) as a channels-last view: torchvision's uint8 resize is fastest on it
        clip = clip.permute(0, 3, 1, 2)
        for step in self.steps:
            clip = step(clip, g)
        return clip.contiguous().float().div_(255.0)  # (T, 3, S, S) in [0, 1]

    def __repr__(self) -> str:
        mode = f"train augment={self.augment}" if self.train else "test resize"
        return f"ClipTransform({mode}, size={self.size})"


def build_transform(cfg: DataConfig, train: bool) -> ClipTransform:
    """The train or test transform of ``cfg`` (its ``augment`` and ``image_size``, taken from the model)."""
    cfg.require_resolved("image_size")
    return ClipTransform(cfg.image_size, cfg.augment, train)

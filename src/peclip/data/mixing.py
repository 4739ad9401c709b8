"""Batch mixing: Mixup or FMix on a share of training batches (docs/spec.md 2.8).

Per batch, draw ``p ~ U[0, 1]``:

- ``p < mix_prob_mixup`` (0.4): Mixup. ``lam = clip(Beta(0.4, 0.4), 0.3, 0.7)``,
  ``x = lam * x + (1 - lam) * x[perm]``.
- ``p < mix_prob_mixup + mix_prob_fmix`` (0.7): FMix (alpha 1, decay power 3, no soft edge). One binary
  low-frequency mask of ``H x W``, ``lam ~ Beta(1, 1)``, shared by all
  frames, channels and samples: ``x = mask * x + (1 - mask) * x[perm]``. The mask holds
  ``ceil`` or ``floor`` (at random) of ``lam * H * W`` ones.
- otherwise the batch is left as it is.

The loss is ``lam * CE(y) + (1 - lam) * CE(y[perm])`` with the sampled ``lam``
(:func:`mixed_cross_entropy`). Our FMix is written from the FMix paper's description with numpy's FFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from peclip.data.config import DataConfig


@dataclass
class MixedBatch:
    """A (possibly) mixed batch: ``videos`` ``(B, T, 3, H, W)``, the two target vectors and the weight
    ``lam`` of ``targets_a``; ``kind`` is ``mixup``, ``fmix`` or ``none`` (then ``lam == 1`` and
    ``targets_b`` is ``targets_a``). ``perm`` is the batch permutation that paired the samples and
    ``mask`` FMix's ``(H, W)`` mask (``None`` otherwise)."""

    videos: torch.Tensor
    targets_a: torch.Tensor
    targets_b: torch.Tensor
    lam: float
    kind: str
    perm: torch.Tensor | None = None
    mask: torch.Tensor | None = None


def low_frequency_image(height: int, width: int, decay_power: float, rng: np.random.Generator) -> np.ndarray:
    """A random grey image ``(H, W)`` in [0, 1] whose Fourier spectrum decays as ``1 / f ** decay_power``."""
    fy = np.fft.fftfreq(height)[:, None]  # (H, 1)
    fx = np.fft.rfftfreq(width)[None, :]  # (1, W // 2 + 1)
    freqs = np.sqrt(fx * fx + fy * fy)  # (H, W // 2 + 1)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power
    spectrum = scale * (rng.standard_normal(freqs.shape) + 1j * rng.standard_normal(freqs.shape))
    image = np.fft.irfft2(spectrum, s=(height, width))  # (H, W), real
    image -= image.min()
    peak = image.max()
    return image / peak if peak > 0 else image


def binarise(image: np.ndarray, lam: float, rng: np.random.Generator) -> np.ndarray:
    """1 on the ``lam`` share of brightest pixels, else 0 (the count rounded up or down at random)."""
    size = image.size
    count = math.ceil(lam * size) if rng.random() > 0.5 else math.floor(lam * size)
    order = np.argsort(image.reshape(-1), kind="stable")[::-1]
    mask = np.zeros(size, dtype=np.float32)
    mask[order[:count]] = 1.0
    return mask.reshape(image.shape)


def sample_fmix_mask(height: int, width: int, rng: np.random.Generator, alpha: float = 1.0,
                     decay_power: float = 3.0) -> tuple[float, np.ndarray]:
    """``(lam, mask)``: ``lam ~ Beta(alpha, alpha)`` and a binary ``(H, W)`` float32 mask of mean ~ lam."""
    lam = float(rng.beta(alpha, alpha))
    return lam, binarise(low_frequency_image(height, width, decay_power, rng), lam, rng)


RandomSource = np.random.Generator | torch.Generator | int | None


def _numpy_rng(rng: RandomSource) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**62, (), generator=rng)))
    return np.random.default_rng(rng)


def mix_batch(videos: torch.Tensor, labels: torch.Tensor, rng: RandomSource = None,
              cfg: DataConfig | None = None) -> MixedBatch:
    """Mix a training batch as docs/spec.md 2.8 says (method chosen per batch; see the module docstring).

    ``videos`` is ``(B, T, 3, H, W)`` (any leading layout ending in ``H, W`` works for the mask);
    ``labels`` ``(B,)`` class indices. ``rng`` makes the draw reproducible; ``cfg`` supplies the
    probabilities and parameters (faithful defaults when ``None``).
    """
    cfg = cfg or DataConfig()
    rng = _numpy_rng(rng)
    p = rng.random()
    if p < cfg.mix_prob_mixup:
        kind = "mixup"
    elif p < cfg.mix_prob_mixup + cfg.mix_prob_fmix:
        kind = "fmix"
    else:
        return MixedBatch(videos, labels, labels, 1.0, "none")
    perm = torch.as_tensor(rng.permutation(videos.shape[0]), device=videos.device)
    other = videos[perm]
    if kind == "mixup":
        low, high = cfg.mixup_lam_range
        lam = float(np.clip(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha), low, high))
        mixed = videos * lam + other * (1.0 - lam)
        mask = None
    else:
        lam, mask_np = sample_fmix_mask(videos.shape[-2], videos.shape[-1], rng, cfg.fmix_alpha, cfg.fmix_decay_power)
        mask = torch.from_numpy(mask_np).to(device=videos.device, dtype=videos.dtype)  # (H, W), broadcast
        mixed = videos * mask + other * (1.0 - mask)
    return MixedBatch(mixed, labels, labels[perm.to(labels.device)], lam, kind, perm, mask)


def mixed_cross_entropy(logits: torch.Tensor, mixed: MixedBatch, **ce_kwargs) -> torch.Tensor:
    """``lam * CE(logits, targets_a) + (1 - lam) * CE(logits, targets_b)`` (plain CE when unmixed)."""
    loss = F.cross_entropy(logits, mixed.targets_a, **ce_kwargs)
    if mixed.kind == "none" or mixed.lam == 1.0:
        return loss
    return mixed.lam * loss + (1.0 - mixed.lam) * F.cross_entropy(logits, mixed.targets_b, **ce_kwargs)

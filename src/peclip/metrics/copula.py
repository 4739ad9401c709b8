"""CSIM: the copula-based image similarity of El Ghazouali et al. (arXiv 2410.01411).

Each image is cut into non-overlapping ``P x P`` patches. Inside a patch every pixel gets, per
channel, its rank among the patch's ``N = P*P`` pixels; the ranks are averaged over the channels and
divided by ``N + 1`` (an empirical copula value ``u`` in (0, 1)), then mapped to a normal score
``z = sqrt(2) * erfinv(2u - 1)``. Two patches are compared by the distance of their normal-score
vectors: ``s = max(0, 1 - ||z1 - z2|| / sqrt(N))``. The result is the map of patch similarities,
shape ``(H // P, W // P)``, and its mean, the global CSIM.

Two variants live here.

``ties="ordinal", inverse="winitzki"`` (the default, *faithful*) reproduces the authors' reference
implementation (github.com/safouaneelg/copulasimilarity, ``CopulaSimilarity/CSM.py``,
``CopulaBasedSimilarity.compute_local_similarity`` followed by ``np.mean``), point by point:

- patches start at ``(0, 0)`` with stride ``P``; incomplete patches at the right and bottom edges are
  dropped; patch order is row-major, and so is the order of pixels inside a patch;
- ranks are ``argsort(argsort(x)) + 1`` per channel, where the inner ``argsort`` is NumPy's *default*
  ``np.argsort`` applied to the pixel values **in the image's own dtype**. That sort is not stable:
  on uint8 it is NumPy's introsort, an insertion sort for ``N <= 16`` (ties keep pixel order) and a
  median-of-3 quicksort above (``N = 64`` for ``P = 8``) whose partitioning reorders equal values.
  We call the same function (``np.argsort``, default kind, same dtype) on the same 1-D sequences, so
  ties resolve exactly as theirs do on the same NumPy (the outer ``argsort`` of a permutation is its
  unique inverse, which we compute by scattering instead of sorting);
- channel ranks are averaged (``np.mean`` over channels: ``sum / C``), divided by ``N + 1``, and passed
  through Winitzki's closed-form ``erfinv`` (``a = 0.147``) with the same float64 operations in the
  same order, then NaN/inf is set to 0 (``np.nan_to_num``) as they do. We evaluate this once for every
  possible channel-rank sum and look the values up, which gives bit-identical normal scores;
- the distance is the Euclidean norm divided by ``sqrt(N)``, clipped at 0 from below; the global
  score is the plain mean of the map.

Measured against a per-patch loop over the same definition (``tests/test_csim_metric.py``): the
normal scores are bit-identical; patch similarities differ by at most 2.2e-16 (their
``np.linalg.norm`` sums through a BLAS dot, ours through ``np.sum``), most are bit-identical.
Results are deterministic for uint8 input. For float input the faithful mode ranks the float values
as given, and NumPy sorts 32/64-bit types with other (SIMD) algorithms than uint8, so *ties* among
equal floats are broken differently: a float copy of a uint8 image can score differently from the
image itself. Tie-free input is unaffected. Use ``ties="average"`` for float input.

Note that a patch scores 0 against its rank-reversed copy when its channels share one pixel order
(gray images, ``255 - x`` of a gray patch); with independent channel orders the channel average
pulls the normal scores towards 0 and the reversed copy keeps a small positive similarity.

``ties="average", inverse="exact"`` (the *exact* variant) gives tied pixels the mean of the ranks
they span (scipy's ``rankdata(method="average")``) and uses the exact inverse normal CDF
(``torch.special.ndtri``). It does not depend on pixel order or dtype, and it is what
:func:`csim_torch` computes on tensors (CPU or GPU, batched). On tie-free input it differs from the
faithful mode only through Winitzki's approximation (measured in ``tests/test_csim_variant.py``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so that the numpy metric and the CLI start fast
    import torch

#: Winitzki's constant for the closed-form erf / erfinv approximation.
WINITZKI_A = 0.147
TIES = ("ordinal", "average")
INVERSES = ("winitzki", "exact")
#: rows per chunk of the uint8 histogram ranks in csim_torch (a 2,048 x 256 int32 histogram is 2 MB)
_HISTOGRAM_ROWS = 2048
#: named (ties, inverse) pairs, used by the CLI
VARIANTS = {"faithful": ("ordinal", "winitzki"), "exact": ("average", "exact")}


@dataclass(frozen=True)
class CSIMResult:
    """Global CSIM (``score``, the mean of ``map``) and the patch similarity map ``(H // P, W // P)``."""

    score: float
    map: np.ndarray


class CSIMTensors(NamedTuple):
    """Batched torch result: ``score`` ``(...,)`` and ``map`` ``(..., H // P, W // P)``."""

    score: torch.Tensor
    map: torch.Tensor


def winitzki_erfinv(x: np.ndarray) -> np.ndarray:
    """Winitzki's closed-form approximation of ``erfinv`` with ``a = 0.147`` (float64).

    ``erfinv(x) ~ sign(x) * sqrt(sqrt(t1**2 - ln(1 - x**2) / a) - t1)``, ``t1 = 2/(pi a) + ln(1 - x**2)/2``.
    The operations are evaluated in the order of the CSIM reference so that results match bit for bit.
    """
    x = np.asarray(x, dtype=np.float64)
    log_term = np.log(1 - x**2)
    t1 = (2 / (np.pi * WINITZKI_A)) + (log_term / 2)
    t2 = log_term / WINITZKI_A
    return np.sign(x) * np.sqrt(np.sqrt(t1**2 - t2) - t1)


def _check_options(patch: int, ties: str, inverse: str) -> None:
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 2:
        raise ValueError(f"CSIM patch size must be an integer >= 2, got {patch!r} (the authors use 8)")
    if ties not in TIES:
        raise ValueError(f"CSIM ties={ties!r} is not one of {TIES}")
    if inverse not in INVERSES:
        raise ValueError(f"CSIM inverse={inverse!r} is not one of {INVERSES}")


def _check_image_array(x: np.ndarray, name: str, patch: int) -> None:
    if x.dtype.kind not in "uif":
        raise ValueError(f"CSIM {name}: expected an integer or float image, got dtype {x.dtype}")
    if x.ndim < 3:
        raise ValueError(f"CSIM {name}: expected (..., H, W, C) after adding a channel, got shape {x.shape}")
    if x.shape[-3] < patch or x.shape[-2] < patch:
        raise ValueError(
            f"CSIM {name}: image {x.shape[-3]}x{x.shape[-2]} is smaller than one {patch}x{patch} patch; "
            "use a smaller patch or a larger image"
        )
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"CSIM {name}: the image contains NaN or inf; ranks are undefined for them")


def _patch_pixels(images: np.ndarray, patch: int) -> np.ndarray:
    """(..., H, W, C) -> (..., M, C, N): M = (H//P)*(W//P) patches row-major, N = P*P pixels row-major."""
    *lead, height, width, channels = images.shape
    hp, wp = height // patch, width // patch
    x = images[..., : hp * patch, : wp * patch, :]  # drop incomplete edge patches
    x = x.reshape(*lead, hp, patch, wp, patch, channels)  # (..., hp, P, wp, P, C)
    x = np.moveaxis(x, -3, -4)  # (..., hp, wp, P, P, C)
    x = x.reshape(*lead, hp * wp, patch * patch, channels)  # (..., M, N, C)
    return np.ascontiguousarray(np.swapaxes(x, -1, -2))  # (..., M, C, N): sorts run on contiguous rows


def _ordinal_ranks2(x: np.ndarray) -> np.ndarray:
    """Twice the 1-based ranks along the last axis, ties broken by NumPy's default (unstable) argsort."""
    order = np.argsort(x, axis=-1)  # default kind on purpose: this is the reference's tie-breaking
    ranks2 = np.empty(order.shape, dtype=np.int64)
    steps = np.broadcast_to(np.arange(2, 2 * x.shape[-1] + 1, 2, dtype=np.int64), order.shape)
    np.put_along_axis(ranks2, order, steps, axis=-1)  # inverse permutation == 2 * (argsort(argsort(x)) + 1)
    return ranks2


def _average_ranks2(x: np.ndarray) -> np.ndarray:
    """Twice the 1-based average ranks along the last axis (tied values share the mean of their ranks)."""
    n = x.shape[-1]
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), xs.shape)
    differs = xs[..., 1:] != xs[..., :-1]  # (..., N-1) True where a new value starts
    starts = np.concatenate([np.ones_like(differs[..., :1]), differs], axis=-1)
    ends = np.concatenate([differs, np.ones_like(differs[..., :1])], axis=-1)
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)  # first sorted slot of the tie group
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, pos, n - 1), -1), axis=-1), -1)
    ranks2 = np.empty(order.shape, dtype=np.int64)
    np.put_along_axis(ranks2, order, first + last + 2, axis=-1)  # 2 * ((first + last) / 2 + 1)
    return ranks2


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis with tied values sharing the mean of their ranks, float64."""
    return _average_ranks2(x) / 2


def _copula_values(channels: int, n: int) -> np.ndarray:
    """u for every doubled channel-rank sum k in [0, 2 C N]: u = ((k / 2) / C) / (N + 1), float64.

    These are the reference's ``mean(ranks over channels) / (N + 1)`` with the same float operations:
    ``k / 2`` is the exact (half-)integer rank sum. Sums below C cannot occur (ranks start at 1);
    those entries hold 0.5 so that the tables stay finite.
    """
    u = ((np.arange(2 * channels * n + 1, dtype=np.float64) / 2) / channels) / (n + 1)
    u[: 2 * channels] = 0.5
    return u


@functools.lru_cache(maxsize=32)
def _normal_score_table(channels: int, n: int, inverse: str) -> np.ndarray:
    """Normal score of every doubled rank sum (see :func:`_copula_values`), float64, read-only."""
    u = _copula_values(channels, n)
    if inverse == "winitzki":
        z = np.nan_to_num(math.sqrt(2) * winitzki_erfinv(2 * u - 1), nan=0.0, posinf=0.0, neginf=0.0)
    else:
        import torch

        z = torch.special.ndtri(torch.from_numpy(u)).numpy()
    z.setflags(write=False)
    return z


def copula_transform(
    images: np.ndarray, patch: int = 8, *, ties: str = "ordinal", inverse: str = "winitzki"
) -> np.ndarray:
    """Normal-score copula vectors of every patch: (..., H, W, C) or (H, W) -> (..., M, N) float64.

    ``M = (H // P) * (W // P)`` patches in row-major order, ``N = P * P``. Compute these once per frame
    when one frame is compared with several others (see :func:`patch_similarities`). Normal scores
    are looked up in a table over every possible channel-rank sum, holding exactly the values the
    elementwise formula gives.
    """
    _check_options(patch, ties, inverse)
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[..., None]  # (H, W) -> (H, W, 1)
    _check_image_array(x, "image", patch)
    pixels = _patch_pixels(x, patch)  # (..., M, C, N)
    channels, n = pixels.shape[-2], pixels.shape[-1]
    ranks2 = _ordinal_ranks2(pixels) if ties == "ordinal" else _average_ranks2(pixels)  # (..., M, C, N)
    return _normal_score_table(channels, n, inverse)[ranks2.sum(axis=-2)]  # (..., M, N)


def patch_similarities(z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """Patch similarity ``max(0, 1 - ||z1 - z2|| / sqrt(N))`` of copula vectors (..., M, N) -> (..., M)."""
    n = z1.shape[-1]
    distance = np.sqrt(np.sum((z1 - z2) ** 2, axis=-1)) / np.sqrt(n)
    return np.maximum(0.0, 1.0 - distance)


def csim(
    a: np.ndarray, b: np.ndarray, patch: int = 8, *, ties: str = "ordinal", inverse: str = "winitzki"
) -> CSIMResult:
    """CSIM of two images of equal shape ``(H, W, C)`` or ``(H, W)``; see the module docstring.

    The defaults (``ties="ordinal", inverse="winitzki"``) are the authors' definition; use
    ``ties="average", inverse="exact"`` for float images or to match :func:`csim_torch`.
    Returns :class:`CSIMResult` with ``score`` (the mean) and ``map`` ``(H // P, W // P)``.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"CSIM needs two images of the same shape, got {a.shape} and {b.shape}; resize one")
    if a.ndim not in (2, 3):
        raise ValueError(f"CSIM compares single images (H, W, C) or (H, W), got shape {a.shape}")
    z1 = copula_transform(a, patch, ties=ties, inverse=inverse)  # (M, N)
    z2 = copula_transform(b, patch, ties=ties, inverse=inverse)
    sim_map = patch_similarities(z1, z2).reshape(a.shape[0] // patch, a.shape[1] // patch)  # (M,) -> (hp, wp)
    return CSIMResult(score=float(np.mean(sim_map)), map=sim_map)


def _torch_average_ranks2(x: torch.Tensor) -> torch.Tensor:
    """Twice the 1-based average ranks along the last dim (int64); uint8 by histogram, others by sorting."""
    import torch

    n = x.shape[-1]
    if x.dtype == torch.uint8:
        rows = x.reshape(-1, n).long()  # (R, N): one channel of one patch per row
        ranks2 = torch.empty_like(rows)
        for start in range(0, rows.shape[0], _HISTOGRAM_ROWS):  # chunks keep the histograms in cache
            values = rows[start : start + _HISTOGRAM_ROWS]
            counts = torch.zeros(values.shape[0], 256, dtype=torch.int32, device=x.device)
            counts.scatter_add_(1, values, torch.ones(values.shape, dtype=torch.int32, device=x.device))
            below = counts.cumsum(dim=1, dtype=torch.int32) - counts  # row values smaller than each bin
            ranks2[start : start + _HISTOGRAM_ROWS] = 2 * below.gather(1, values) + counts.gather(1, values) + 1
        return ranks2.reshape(x.shape)  # (R, N) -> (..., N); 2 * less + ties + 1 = twice the average rank
    xs, order = torch.sort(x, dim=-1, stable=True)
    pos = torch.arange(n, device=x.device).expand(xs.shape)
    differs = xs[..., 1:] != xs[..., :-1]  # (..., N-1)
    edge = torch.ones_like(differs[..., :1])
    first = torch.where(torch.cat([edge, differs], dim=-1), pos, 0).cummax(dim=-1).values
    last = torch.where(torch.cat([differs, edge], dim=-1), pos, n - 1).flip(-1).cummin(dim=-1).values.flip(-1)
    return torch.empty_like(first).scatter_(-1, order, first + last + 2)


def csim_torch(a: torch.Tensor, b: torch.Tensor, patch: int = 8) -> CSIMTensors:
    """The exact variant (average ranks, exact inverse normal) on tensors, batched, on any device.

    ``a`` and ``b`` are channel-first ``(..., C, H, W)`` (or ``(H, W)``) tensors of equal shape, any
    real dtype (uint8 or float). Returns ``score`` ``(...,)`` and ``map`` ``(..., H // P, W // P)``,
    float64 when the input is float64, float32 otherwise. Equals
    ``csim(a_hwc, b_hwc, patch, ties="average", inverse="exact")`` per image (tested).
    """
    import torch

    _check_options(patch, "average", "exact")
    if a.shape != b.shape:
        raise ValueError(f"csim_torch needs tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() < 2 or a.is_complex() or a.dtype == torch.bool:
        raise ValueError(f"csim_torch: expected real (..., C, H, W) or (H, W) tensors, got {a.dtype} {tuple(a.shape)}")
    out_dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    channels = 1 if a.dim() == 2 else a.shape[-3]
    # ndtri of every possible u, evaluated in the output dtype: the same values as elementwise
    u_table = torch.from_numpy(_copula_values(channels, patch * patch))
    table = torch.special.ndtri(u_table.to(out_dtype)).to(a.device)

    def scores(x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0)  # (H, W) -> (1, H, W)
        *lead, _, height, width = x.shape
        hp, wp = height // patch, width // patch
        if hp == 0 or wp == 0:
            raise ValueError(f"csim_torch: image {height}x{width} is smaller than one {patch}x{patch} patch")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError("csim_torch: the image contains NaN or inf; ranks are undefined for them")
        x = x[..., : hp * patch, : wp * patch]  # drop incomplete edge patches
        x = x.reshape(*lead, channels, hp, patch, wp, patch)  # (..., C, hp, P, wp, P)
        x = x.movedim(-2, -3).movedim(-5, -3)  # (..., C, hp, wp, P, P) -> (..., hp, wp, C, P, P)
        x = x.reshape(*lead, hp * wp, channels, patch * patch)  # (..., M, C, N)
        rank2_sum = _torch_average_ranks2(x).sum(dim=-2)  # (..., M, N) doubled channel-rank sums
        return table[rank2_sum]

    z1, z2 = scores(a), scores(b)
    n = z1.shape[-1]
    sims = (1 - torch.linalg.vector_norm(z1 - z2, dim=-1) / math.sqrt(n)).clamp_min(0)  # (..., M)
    height, width = a.shape[-2], a.shape[-1]
    sim_map = sims.reshape(*sims.shape[:-1], height // patch, width // patch)  # (..., hp, wp)
    return CSIMTensors(score=sim_map.mean(dim=(-2, -1)), map=sim_map)

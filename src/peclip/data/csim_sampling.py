"""Frame selection and duplicate detection with CSIM (:mod:`peclip.metrics.copula`).

``csim_frame_indices`` is a frame-sampling strategy beside TSN's segments (docs/spec.md 2.2 samples
``T`` frames per clip by segments): it picks the ``T`` frames that change most, measured by the
faithful CSIM of each selected frame to the selected frame before it.

The selection, precisely. Let ``d(j, i) = 1 - CSIM(frame_j, frame_i)`` (the mean over patches of
``min(1, ||z_j - z_i|| / sqrt(N))``; a metric, so it obeys the triangle inequality). Among all sorted
index sets ``i_1 < ... < i_T`` choose the one that maximises

    d(i_1 - 1, i_1) + d(i_1, i_2) + ... + d(i_{T-1}, i_T)        (d(-1, 0) := 0)

i.e. each selected frame scores its dissimilarity to the previous selected frame, and the first one
its dissimilarity to the frame just before it in the clip. Because of the triangle inequality a
chain through every frame of a change never scores less than one that skips frames of it, so the
picks concentrate where the clip moves and avoid static stretches. The maximum is found exactly by
dynamic programming over (slot, frame) in ``O(T F^2)`` on the ``F x F`` dissimilarity matrix.
Dissimilarities are rounded to multiples of ``2**-20`` before the search so that sums compare exactly.
Equal totals (frozen or repeated frames, a static clip) are resolved, in this order, towards picks
that differ from their own predecessor frame (of a run of identical frames, the first one: the
moment of the change), towards TSN's test-time segment centres (docs/spec.md 2.2), then towards earlier
frames. A fully static clip therefore gets TSN's test-time indices.

Cost: every frame is transformed once (the faithful, uint8 tie-breaking argsort dominates), then
``F x F`` distances in BLAS form; see ``docs/csim.md`` for measured times.
"""

from __future__ import annotations

import logging

import numpy as np

from peclip.metrics.copula import copula_transform, patch_similarities

log = logging.getLogger(__name__)

#: dissimilarities are compared in integer units of this size (exact sums, deterministic ties)
_QUANTUM = 2.0**-20
#: elements per (patches, F, F) chunk of the dissimilarity computation (~32 MB of float64 each)
_CHUNK_ELEMENTS = 4_000_000


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(
            f"expected frames as an (N, H, W, C) array, got shape {frames.shape}; "
            "add a channel axis for grayscale frames (frames[..., None])"
        )
    if frames.shape[0] == 0:
        raise ValueError("expected at least one frame, got an empty (0, H, W, C) array")
    return frames


def _downscale(frames: np.ndarray, max_side: int | None, patch: int) -> np.ndarray:
    """Area-downscale (N, H, W, C) frames so that max(H, W) <= max_side (no-op when already small)."""
    if max_side is None:
        return frames
    if max_side < patch:
        raise ValueError(f"max_side={max_side} is smaller than the CSIM patch {patch}; use None or >= {patch}")
    height, width = frames.shape[1:3]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frames
    import cv2

    size = (max(patch, round(width * scale)), max(patch, round(height * scale)))  # cv2 wants (w, h)
    out = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack([o if o.ndim == 3 else o[..., None] for o in out])  # keep (N, h, w, C) for C == 1


def consecutive_csim(frames: np.ndarray, patch: int = 8) -> np.ndarray:
    """Faithful CSIM of each frame to its predecessor: (N, H, W, C) -> (N - 1,) float64."""
    frames = _check_frames(frames)
    z = copula_transform(frames, patch)  # (N, M, P*P), each frame transformed once
    return patch_similarities(z[1:], z[:-1]).mean(axis=-1)  # (N-1, M) -> (N-1,)


def duplicate_frames(frames: np.ndarray, threshold: float = 0.95, patch: int = 8) -> list[tuple[int, float]]:
    """(index, CSIM to the previous frame) for every frame whose CSIM to its predecessor exceeds ``threshold``.

    Frame 0 has no predecessor and is never reported. Exact repeats score 1.0.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"duplicate threshold must lie in [0, 1] (CSIM's range), got {threshold}")
    sims = consecutive_csim(frames, patch)
    return [(i + 1, float(s)) for i, s in enumerate(sims) if s > threshold]


def pairwise_dissimilarity(copulas: np.ndarray) -> np.ndarray:
    """``1 - CSIM`` between all frames from their copula vectors: (F, M, N) -> (F, F) float64, symmetric.

    Uses the Gram form ``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`` (BLAS), in patch chunks to bound memory;
    it agrees with the direct distance to ~1e-8, below the selection's quantum.
    """
    num_frames, num_patches, n = copulas.shape
    total = np.zeros((num_frames, num_frames))
    chunk = max(1, _CHUNK_ELEMENTS // num_frames**2)
    for start in range(0, num_patches, chunk):
        z = np.ascontiguousarray(np.swapaxes(copulas[:, start : start + chunk], 0, 1))  # (m, F, N)
        sq = np.einsum("mfn,mfn->mf", z, z)  # (m, F)
        gram = z @ np.swapaxes(z, 1, 2)  # (m, F, F)
        dist2 = np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * gram, 0.0)
        total += np.minimum(1.0, np.sqrt(dist2) / np.sqrt(n)).sum(axis=0)  # (m, F, F) -> (F, F)
    total /= num_patches
    np.fill_diagonal(total, 0.0)
    return total


def tsn_centres(num_available: int, num_frames: int) -> list[int]:
    """TSN test-time indices (docs/spec.md 2.2): ``tick = F / T``, frame ``k`` = ``int(tick / 2 + tick * k)``."""
    tick = num_available / num_frames
    return [int(tick / 2 + tick * k) for k in range(num_frames)]


def _lexicographic_argmax(keys: list[np.ndarray]) -> np.ndarray:
    """Per column, the first row index maximising ``keys`` lexicographically; each key is (F_prev, F_next)."""
    alive = np.ones(keys[0].shape, dtype=bool)
    for key in keys:
        masked = np.where(alive, key, np.iinfo(np.int64).min)
        alive &= masked == masked.max(axis=0, keepdims=True)
    return np.argmax(alive, axis=0)  # first surviving row


def select_max_change(dissimilarity: np.ndarray, num_frames: int) -> list[int]:
    """The dynamic programme of the module docstring on a precomputed (F, F) dissimilarity matrix.

    Chains are compared lexicographically on integer keys: (1) the chain's total change, (2) the
    summed change of each pick from its own predecessor frame ``d(i - 1, i)``, so that of identical
    frames the first one of the run is taken (the moment of the change, not a frozen copy of it),
    (3) minus the summed distance to TSN's segment centres, then (4) the earliest previous frame.
    """
    num_available = dissimilarity.shape[0]
    if dissimilarity.shape != (num_available, num_available):
        raise ValueError(f"expected a square (F, F) dissimilarity matrix, got shape {dissimilarity.shape}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if num_available <= num_frames:
        # Too few frames: TSN-style edge padding, all frames then the last one repeated.
        return list(range(num_available)) + [num_available - 1] * (num_frames - num_available)
    units = np.rint(np.asarray(dissimilarity, dtype=np.float64) / _QUANTUM).astype(np.int64)  # (F, F)
    centres = tsn_centres(num_available, num_frames)
    frames = np.arange(num_available)
    novelty = np.concatenate([[0], np.diagonal(units, offset=1)])  # (F,) d(i-1, i); 0 for frame 0
    impossible = np.iinfo(np.int64).min // 4  # far below any key, and safe to add to
    # Best keys of a chain of k+1 picks ending at frame i: change, novelty, -distance to centres.
    change, nov, closeness = novelty.copy(), novelty.copy(), -np.abs(frames - centres[0])
    back = np.zeros((num_frames, num_available), dtype=np.int64)
    earlier = frames[:, None] < frames[None, :]  # (F_prev j, F_next i): j < i
    for k in range(1, num_frames):
        cand = np.where(earlier, change[:, None] + units, impossible)  # (F_prev j, F_next i)
        back[k] = _lexicographic_argmax(
            [cand, np.broadcast_to(nov[:, None], cand.shape), np.broadcast_to(closeness[:, None], cand.shape)]
        )
        change = cand[back[k], frames]
        nov = nov[back[k]] + novelty
        closeness = closeness[back[k]] - np.abs(frames - centres[k])
        change[:k] = impossible  # slot k needs k earlier frames
    order = np.lexsort((-frames, closeness, nov, change))  # last key primary; ties -> earliest frame
    chain = [int(order[-1])]
    for k in range(num_frames - 1, 0, -1):
        chain.append(int(back[k, chain[-1]]))
    return chain[::-1]


def csim_frame_indices(
    frames: np.ndarray,
    num_frames: int,
    patch: int = 8,
    *,
    max_side: int | None = 112,
    copulas: np.ndarray | None = None,
) -> list[int]:
    """Pick ``num_frames`` sorted, distinct frame indices where the clip changes most (module docstring).

    ``frames`` is ``(N, H, W, C)`` (uint8 for the deterministic faithful ranks). Frames larger than
    ``max_side`` are area-downscaled first (the default 112 keeps 14 x 14 patches of 8 px on a face
    crop; measured times in ``docs/csim.md``); ``max_side=None`` uses full resolution.
    ``copulas`` may carry precomputed :func:`~peclip.metrics.copula.copula_transform` vectors
    ``(N, M, P*P)`` (e.g. computed once per video and sliced per window); ``frames`` is then ignored
    and may be ``None``. With at most ``num_frames`` frames the result is ``0..N-1`` followed by
    ``N-1`` repeated (TSN's edge padding, docs/spec.md 2.2), the only case with repeats. Memory grows
    as ``F^2`` (a few ``F x F`` int64 arrays): meant for clips and windows, not whole long videos.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if copulas is None:
        frames = _check_frames(frames)
        if len(frames) <= num_frames:
            return select_max_change(np.zeros((len(frames), len(frames))), num_frames)  # edge padding
        small = _downscale(frames, max_side, patch)
        log.debug("csim sampling: %d frames %s -> %s", len(frames), frames.shape[1:3], small.shape[1:3])
        copulas = copula_transform(small, patch)  # (N, M, P*P)
    elif copulas.ndim != 3:
        raise ValueError(f"expected precomputed copulas of shape (N, M, P*P), got {copulas.shape}")
    return select_max_change(pairwise_dissimilarity(copulas), num_frames)

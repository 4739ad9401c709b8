"""CSIM frame sampling (picks the changing part of a clip) and the duplicate-frame report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peclip.data.csim_sampling import (
    consecutive_csim,
    csim_frame_indices,
    duplicate_frames,
    pairwise_dissimilarity,
    select_max_change,
    tsn_centres,
)
from peclip.metrics import csim
from peclip.metrics.copula import copula_transform

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "single_face.mp4"


def textured_background(seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def burst_clip(num: int = 40, start: int = 16, length: int = 8) -> np.ndarray:
    """Static textured frames, except frames start..start+length-1 which are all different."""
    rng = np.random.default_rng(1)
    frames = np.repeat(textured_background()[None], num, axis=0)  # (N, H, W, C)
    frames[start:start + length] = rng.integers(0, 256, size=(length, *frames.shape[1:]), dtype=np.uint8)
    return frames


def moving_square_clip(num: int = 40, start: int = 16, length: int = 8) -> np.ndarray:
    """Static, then a square slides for `length` frames, then static again at its last position."""
    background = textured_background()
    frames = np.repeat(background[None], num, axis=0)
    for i in range(start, num):
        step = min(i - start, length - 1)
        frames[i, 10:30, 4 + 4 * step:24 + 4 * step] = 200
    return frames


@pytest.mark.parametrize("num_frames", [1, 3, 6, 8])
def test_csim_sampling_returns_distinct_sorted_indices_inside_a_burst(num_frames):
    indices = csim_frame_indices(burst_clip(), num_frames, max_side=None)
    assert len(indices) == num_frames
    assert indices == sorted(set(indices))
    # the burst is frames 16..23; frame 24 (back to static) is a change as well
    assert all(16 <= i <= 24 for i in indices), indices
    if num_frames > 1:
        uniform = tsn_centres(40, num_frames)
        assert sum(16 <= i <= 24 for i in uniform) < num_frames  # TSN would not have picked only these


def test_csim_sampling_follows_a_moving_square_frame_by_frame():
    assert csim_frame_indices(moving_square_clip(), 8, max_side=None) == list(range(16, 24))
    # fewer picks: all inside the motion, never a frozen copy of its last frame
    assert all(16 <= i <= 23 for i in csim_frame_indices(moving_square_clip(), 4, max_side=None))


def test_csim_sampling_of_a_static_clip_is_tsn():
    static = np.repeat(textured_background()[None], 30, axis=0)
    assert csim_frame_indices(static, 8) == tsn_centres(30, 8) == [1, 5, 9, 13, 16, 20, 24, 28]


def test_csim_sampling_pads_short_clips_like_tsn():
    frames = burst_clip(num=5, start=1, length=2)
    assert csim_frame_indices(frames, 8) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert csim_frame_indices(frames, 5) == [0, 1, 2, 3, 4]


def test_csim_sampling_accepts_precomputed_copulas():
    frames = moving_square_clip()
    copulas = copula_transform(frames)  # (N, M, 64), e.g. computed once per video
    assert csim_frame_indices(None, 6, copulas=copulas) == csim_frame_indices(frames, 6, max_side=None)


def test_csim_sampling_downscales_large_frames_before_ranking():
    frames = np.repeat(np.repeat(moving_square_clip(), 4, axis=1), 4, axis=2)  # (40, 256, 256, 3)
    indices = csim_frame_indices(frames, 4, max_side=64)
    assert all(16 <= i <= 23 for i in indices) and indices == sorted(set(indices))


def test_dynamic_programme_is_optimal_on_a_small_matrix():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(9, 3))
    dissimilarity = np.minimum(1.0, np.linalg.norm(points[:, None] - points[None], axis=-1) / 4)

    def total(chain):
        first = dissimilarity[chain[0] - 1, chain[0]] if chain[0] > 0 else 0.0
        return first + sum(dissimilarity[a, b] for a, b in zip(chain[:-1], chain[1:], strict=True))

    from itertools import combinations

    best = max(total(c) for c in combinations(range(9), 4))
    assert total(select_max_change(dissimilarity, 4)) == pytest.approx(best, abs=4 * 2.0**-20)


def test_pairwise_dissimilarity_matches_direct_csim():
    frames = burst_clip(num=6, start=2, length=3)
    matrix = pairwise_dissimilarity(copula_transform(frames))
    for i, j in [(0, 1), (1, 2), (2, 3), (0, 5), (3, 4)]:
        assert matrix[i, j] == pytest.approx(1 - csim(frames[i], frames[j]).score, abs=1e-8)
        assert matrix[j, i] == matrix[i, j]
    assert matrix[0, 1] < 1e-8  # identical frames (Gram-form rounding; far below the selection quantum)


def test_consecutive_csim_and_duplicates():
    frames = moving_square_clip(num=30, start=10, length=5)
    sims = consecutive_csim(frames)
    assert sims.shape == (29,)
    for i in (5, 10, 12, 20):
        assert sims[i - 1] == csim(frames[i - 1], frames[i]).score
    # the square moves 4 px a frame: ~0.93-0.95 CSIM to its predecessor, so not a duplicate at 0.99
    assert 0.85 < sims[9:14].min() and sims[9:14].max() < 0.99
    duplicates = duplicate_frames(frames, threshold=0.99)
    indices = [i for i, _ in duplicates]
    assert indices == [i for i in range(1, 30) if not 10 <= i <= 14]
    assert all(score == 1.0 for _, score in duplicates)
    with pytest.raises(ValueError, match="threshold"):
        duplicate_frames(frames, threshold=1.5)


def test_frames_must_be_four_dimensional():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        csim_frame_indices(np.zeros((5, 32, 32), np.uint8), 2)


def test_csim_sampling_on_a_real_video():
    av = pytest.importorskip("av")
    if not VIDEO.is_file():
        pytest.skip(f"real test video {VIDEO} is absent")
    with av.open(str(VIDEO)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24")[::4, ::4] for f in container.decode(video=0)])
    indices = csim_frame_indices(frames, 8)
    assert len(indices) == 8 and indices == sorted(set(indices))
    assert 0 <= indices[0] and indices[-1] < len(frames)

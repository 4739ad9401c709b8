"""TSN sampling (docs/spec.md 2.2) on hand-checked cases."""

import numpy as np
import pytest

from peclip.data.sampling import tsn_indices


def test_test_sampling_takes_segment_centres():
    # N=50: tick = 3.125, frame i = int(1.5625 + 3.125 i), worked out by hand.
    assert tsn_indices(50, 16, train=False) == [1, 4, 7, 10, 14, 17, 20, 23, 26, 29, 32, 35, 39, 42, 45, 48]
    # N=17: tick = 1.0625; segment 8's centre is 9.03 -> frame 8 is skipped.
    assert tsn_indices(17, 16, train=False) == [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16]


@pytest.mark.parametrize("train", [True, False])
def test_short_clips_are_edge_padded(train):
    assert tsn_indices(10, 16, train=train, rng=np.random.default_rng(0)) == list(range(10)) + [9] * 6
    assert tsn_indices(1, 16, train=train, rng=np.random.default_rng(0)) == [0] * 16


@pytest.mark.parametrize("train", [True, False])
def test_sixteen_frames_give_every_frame(train):
    assert tsn_indices(16, 16, train=train, rng=np.random.default_rng(3)) == list(range(16))


def test_train_sampling_draws_one_frame_per_segment():
    # N=40: avg = 40 // 16 = 2, so frame i is 2i or 2i+1; frames 32..39 are never drawn.
    seen = set()
    for seed in range(200):
        idx = tsn_indices(40, 16, train=True, rng=np.random.default_rng(seed))
        assert len(idx) == 16
        assert all(2 * i <= f <= 2 * i + 1 for i, f in enumerate(idx))
        seen.update(idx)
    assert seen == set(range(32))


def test_train_sampling_is_deterministic_given_a_seed():
    a = tsn_indices(100, 16, train=True, rng=np.random.default_rng(42))
    b = tsn_indices(100, 16, train=True, rng=np.random.default_rng(42))
    c = tsn_indices(100, 16, train=True, rng=np.random.default_rng(43))
    assert a == b
    assert a != c
    # avg = 6: segment i covers 6i .. 6i+5
    assert all(6 * i <= f < 6 * i + 6 for i, f in enumerate(a))


def test_other_clip_lengths():
    assert tsn_indices(8, 4, train=False) == [1, 3, 5, 7]  # tick 2: int(1 + 2i)
    assert tsn_indices(3, 4, train=False) == [0, 1, 2, 2]


def test_empty_clip_is_an_error():
    with pytest.raises(ValueError, match="at least one frame"):
        tsn_indices(0, 16, train=False)

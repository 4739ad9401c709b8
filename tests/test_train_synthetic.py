"""The synthetic motion task: each direction is the other played backwards, so single frames carry no label."""

import numpy as np
import pytest

from peclip.data.synthetic import MotionClips, MotionSpec, clip_rng, motion_clip, write_motion_dataset


@pytest.mark.parametrize("forward, backward", [(0, 1), (2, 3)])
def test_opposite_directions_are_the_same_clip_reversed_in_time(forward, backward):
    spec = MotionSpec(num_classes=4, num_frames=7, noise=0.0, colours="random")
    for seed in range(5):
        a = motion_clip(forward, spec, clip_rng(seed, 0))
        b = motion_clip(backward, spec, clip_rng(seed, 0))
        assert a.shape == (7, 32, 32, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a[::-1], b)
        assert not np.array_equal(a, b)  # the square does move


def test_motion_clips_are_balanced_deterministic_and_in_unit_range(tmp_path):
    spec = MotionSpec(num_classes=2, num_frames=4, size=16)
    clips = MotionClips(6, spec, seed=3)
    video, label = clips[1]
    assert video.shape == (4, 3, 16, 16) and label == 1 and 0.0 <= float(video.min()) <= float(video.max()) <= 1.0
    assert clips.labels == [0, 1, 0, 1, 0, 1]
    assert (MotionClips(6, spec, seed=3).videos == clips.videos).all()
    paths = write_motion_dataset(tmp_path, num_train=3, num_test=2, spec=spec, seed=3)
    lines = paths["train"].read_text().splitlines()
    assert lines[0] == "frames/train/00000 4 0" and len(lines) == 3
    assert len(list((tmp_path / "frames" / "test" / "00001").iterdir())) == 4
    with pytest.raises(ValueError, match="2 \\(right/left\\) or 4"):
        MotionSpec(num_classes=3)

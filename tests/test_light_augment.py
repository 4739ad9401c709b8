"""The ShuffViT-DFER augmentation preset: one draw per clip, the output size, reproducible from a seed."""

import numpy as np
import pytest

from peclip.data.config import DataConfig
from peclip.data.transforms import ClipTransform


def test_shuffvit_preset_draws_once_per_clip_and_resizes_to_the_model_size():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    clip = np.stack([frame] * 4)  # four identical frames: one draw per clip keeps them identical
    transform = ClipTransform(32, "shuffvit", train=True)
    out = transform(clip, 7)
    assert out.shape == (4, 3, 32, 32) and 0.0 <= float(out.min()) <= float(out.max()) <= 1.0
    for t in range(1, 4):
        assert (out[t] == out[0]).all()
    assert (transform(clip, 7) == out).all()  # the seed fixes every draw
    assert not (transform(clip, 8) == out).all()
    assert DataConfig(augment="shuffvit").augment == "shuffvit"
    with pytest.raises(ValueError, match="shuffvit"):
        DataConfig(augment="shufvit")

"""Clip-consistent transforms (docs/spec.md 2.3): one random draw per clip, hand-checked values."""

import numpy as np
import pytest
import torch

from peclip.data.config import DataConfig
from peclip.data.transforms import brightness, build_transform, random_sized_crop


def _noise_clip(t=16, h=60, w=80, seed=0):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.repeat(frame[None], t, axis=0)  # (T, H, W, 3), identical frames


@pytest.mark.parametrize("augment", ["dfew", "ferv39k", "afew", "mafw"])
def test_identical_frames_stay_identical_after_train_transforms(augment):
    transform = build_transform(DataConfig(augment=augment, image_size=224), train=True)
    clip = _noise_clip()
    for seed in range(3):
        out = transform(clip, seed)
        assert out.shape == (16, 3, 224, 224) and out.dtype == torch.float32
        # one draw per clip: every frame got the same brightness/rotation/crop/flip
        assert all(torch.equal(out[0], out[t]) for t in range(1, 16))


@pytest.mark.parametrize("augment", ["dfew", "ferv39k", "mafw"])
def test_train_transform_is_random_but_reproducible(augment):
    transform = build_transform(DataConfig(augment=augment, image_size=224), train=True)
    clip = _noise_clip(t=2)
    assert torch.equal(transform(clip, 7), transform(clip, 7))
    assert not torch.equal(transform(clip, 7), transform(clip, 8))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(transform(clip, g1), transform(clip, g2))


def test_test_transform_resizes_directly_without_keeping_aspect():
    # 100 wide x 50 high: left half black, right half white -> 224 x 224, left/right halves kept.
    frame = np.zeros((50, 100, 3), np.uint8)
    frame[:, 50:] = 255
    out = build_transform(DataConfig(image_size=224), train=False)(frame[None])
    assert out.shape == (1, 3, 224, 224)
    assert torch.all(out[..., :, :100] == 0) and torch.all(out[..., :, 124:] == 1)
    # constant input stays that constant, scaled to [0, 1] (faithful: no normalisation)
    const = build_transform(DataConfig(image_size=224), train=False)(np.full((2, 30, 40, 3), 128, np.uint8))
    assert torch.allclose(const, torch.full_like(const, 128 / 255))


def test_test_transform_is_deterministic_and_identity_at_target_size():
    clip = _noise_clip(t=3, h=224, w=224)
    out = build_transform(DataConfig(image_size=224), train=False)(clip, 0)
    assert torch.equal(out, torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255)


def test_input_normalisation_is_the_models_setting_not_the_datas():
    with pytest.raises(ValueError, match="model.normalize_input"):
        DataConfig.from_dict({"normalize": True})
    # run folders written before the move (normalize: false, mean, std) still load
    old = DataConfig.from_dict({"normalize": False, "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]})
    assert old == DataConfig()


def test_a_transform_needs_the_models_frame_size():
    with pytest.raises(ValueError, match="for_model"):
        build_transform(DataConfig(), train=False)


def test_brightness_factor_is_drawn_in_half_to_one_and_a_half():
    clip = torch.full((2, 3, 4, 4), 100, dtype=torch.uint8)
    values = []
    for seed in range(300):
        out = brightness(clip, torch.Generator().manual_seed(seed))
        assert torch.all(out == out.flatten()[0])
        values.append(int(out.flatten()[0]))
    assert 50 <= min(values) < 55 and 145 < max(values) <= 150


def test_sized_crop_falls_back_to_scale_and_crop_when_nothing_fits():
    # 10 px high: no crop of >= 8 % of the area with aspect <= 4/3 fits -> scale shorter side + crop.
    clip = torch.arange(400, dtype=torch.float32).repeat(10, 1).expand(1, 3, 10, 400).to(torch.uint8).clone()
    out = random_sized_crop(clip, torch.Generator().manual_seed(0), 32)
    assert out.shape == (1, 3, 32, 32)


def test_bad_input_is_rejected_with_the_shape():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        build_transform(DataConfig(image_size=224), train=False)(np.zeros((2, 3, 8, 8), np.uint8))


def test_brightness_on_the_crop_equals_brightness_then_crop():
    from peclip.data.transforms import brightness_then_crop

    clip = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (4, 90, 70, 3), dtype=np.uint8))
    clip = clip.permute(0, 3, 1, 2)  # (T, 3, H, W)
    for seed in range(10):
        g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        sequential = random_sized_crop(brightness(clip, g1), g1, 56)
        assert torch.equal(brightness_then_crop(clip, g2, 56), sequential)


def test_rotation_matches_pil_rotate():
    from PIL import Image

    from peclip.data.transforms import _uniform, rotation

    blocky = np.kron(np.random.default_rng(2).integers(0, 256, (28, 25, 3), dtype=np.uint8), np.ones((8, 8, 1),
                                                                                                     np.uint8))
    clip = torch.from_numpy(np.stack([blocky, blocky])).permute(0, 3, 1, 2)  # (2, 3, 224, 200)
    out = rotation(clip, torch.Generator().manual_seed(4)).permute(0, 2, 3, 1).numpy()
    angle = _uniform(torch.Generator().manual_seed(4), -4.0, 4.0)
    official = np.asarray(Image.fromarray(blocky).rotate(angle))  # the official RandomRotation's call
    assert np.array_equal(out[0], official) and np.array_equal(out[1], official)


def test_test_resize_matches_pil_bilinear():
    from PIL import Image

    frame = np.random.default_rng(3).integers(0, 256, (300, 260, 3), dtype=np.uint8)
    frame = np.asarray(Image.fromarray(frame).resize((65, 75)).resize((260, 300)))  # smooth content
    ours = build_transform(DataConfig(image_size=224), train=False)(frame[None])[0].permute(1, 2, 0).numpy() * 255
    official = np.asarray(Image.fromarray(frame).resize((224, 224), Image.BILINEAR)).astype(np.float32)
    assert np.abs(ours - official).max() <= 2.0 and np.abs(ours - official).mean() < 0.5

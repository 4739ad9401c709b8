"""Mixup / FMix batch mixing (docs/spec.md 2.8)."""

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from peclip.data.config import DataConfig
from peclip.data.mixing import MixedBatch, mix_batch, mixed_cross_entropy, sample_fmix_mask


def _batch(b=4, t=3, h=16, w=16):
    videos = torch.rand(b, t, 3, h, w)
    labels = torch.arange(b)
    return videos, labels


def _draw(kind, seed_range=range(500)):
    for seed in seed_range:
        videos, labels = _batch()
        mixed = mix_batch(videos, labels, np.random.default_rng(seed))
        if mixed.kind == kind:
            return videos, labels, mixed
    raise AssertionError(f"no {kind} batch drawn")


def test_choice_of_method_follows_the_probabilities():
    counts = Counter(mix_batch(*_batch(b=2, h=8, w=8), np.random.default_rng(s)).kind for s in range(3000))
    assert abs(counts["mixup"] / 3000 - 0.4) < 0.04
    assert abs(counts["fmix"] / 3000 - 0.3) < 0.04
    assert abs(counts["none"] / 3000 - 0.3) < 0.04
    only_mixup = DataConfig(mix_prob_mixup=1.0, mix_prob_fmix=0.0)
    assert mix_batch(*_batch(), 0, only_mixup).kind == "mixup"


def test_mixup_blends_with_a_permutation_and_clipped_lam():
    lams = []
    for seed in range(150):
        videos, labels = _batch(t=1, h=4, w=4)
        mixed = mix_batch(videos, labels, np.random.default_rng(seed))
        if mixed.kind != "mixup":
            continue
        lams.append(mixed.lam)
        assert mixed.videos.shape == videos.shape and mixed.videos.dtype == videos.dtype
        assert sorted(mixed.perm.tolist()) == list(range(4))
        assert torch.equal(mixed.targets_a, labels) and torch.equal(mixed.targets_b, labels[mixed.perm])
        expected = mixed.lam * videos + (1 - mixed.lam) * videos[mixed.perm]
        assert torch.allclose(mixed.videos, expected, atol=1e-6)
    assert min(lams) >= 0.3 and max(lams) <= 0.7
    # Beta(0.4, 0.4) puts much mass near 0 and 1, so the clip bounds are hit often
    assert sum(lam in (0.3, 0.7) for lam in lams) > len(lams) / 3


def test_fmix_uses_one_binary_mask_for_all_frames_channels_and_samples():
    videos, labels, mixed = _draw("fmix")
    mask = mixed.mask
    assert mask.shape == (16, 16)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(mask.mean()) - mixed.lam) <= 1 / 256 + 1e-6
    expected = videos * mask + videos[mixed.perm] * (1 - mask)
    assert torch.allclose(mixed.videos, expected)
    assert torch.equal(mixed.targets_b, labels[mixed.perm])


def test_fmix_mask_is_low_frequency_and_lam_is_uniform():
    lams, changes = [], []
    for seed in range(200):
        lam, mask = sample_fmix_mask(64, 64, np.random.default_rng(seed))
        lams.append(lam)
        assert mask.shape == (64, 64) and mask.dtype == np.float32
        assert abs(mask.mean() - lam) <= 1 / 4096 + 1e-9
        # neighbouring pixels rarely differ (a random mask would differ about half the time)
        changes.append(np.mean(mask[:, 1:] != mask[:, :-1]))
    assert np.mean(changes) < 0.1
    assert 0.4 < np.mean(lams) < 0.6 and min(lams) < 0.1 and max(lams) > 0.9


def test_unmixed_batch_is_untouched():
    videos, labels, mixed = _draw("none")
    assert mixed.videos is videos and mixed.lam == 1.0 and torch.equal(mixed.targets_b, labels)


def test_mixed_cross_entropy_weights_both_targets():
    logits = torch.randn(4, 7)
    a, b = torch.tensor([0, 1, 2, 3]), torch.tensor([3, 2, 1, 0])
    mixed = MixedBatch(torch.zeros(1), a, b, 0.3, "mixup")
    expected = 0.3 * F.cross_entropy(logits, a) + 0.7 * F.cross_entropy(logits, b)
    assert torch.allclose(mixed_cross_entropy(logits, mixed), expected)
    plain = MixedBatch(torch.zeros(1), a, a, 1.0, "none")
    assert torch.allclose(mixed_cross_entropy(logits, plain), F.cross_entropy(logits, a))


def test_torch_generator_and_seed_are_accepted_and_reproducible():
    videos, labels = _batch()
    one = mix_batch(videos, labels, torch.Generator().manual_seed(5))
    two = mix_batch(videos, labels, torch.Generator().manual_seed(5))
    assert one.kind == two.kind and one.lam == two.lam and torch.equal(one.videos, two.videos)
    assert torch.equal(mix_batch(videos, labels, 11).videos, mix_batch(videos, labels, 11).videos)


@pytest.mark.parametrize("bad", [dict(mix_prob_mixup=0.8, mix_prob_fmix=0.5), dict(mixup_lam_range=(0.8, 0.2))])
def test_bad_mixing_settings_are_refused(bad):
    with pytest.raises(ValueError, match="mix"):
        DataConfig(**bad)

"""FLOP counts: equal to the hand formula on the tiny model and to docs/spec.md 6.3 on ViT-B/16."""

from __future__ import annotations

import pytest
import torch

import peclip
from model_helpers import tiny_model
from peclip import perf


def _vision_macs(model: peclip.PEClip, frames: int, cls_only_last: bool) -> int:
    """Multiply-adds of encode_video for one clip, written out from the architecture (docs/spec.md 2.4, 2.6)."""
    s, cfg = model.sizes, model.config
    D, E, d = s.vision_width, s.embed_dim, s.vision_width // cfg.adapters.reduction
    patch = model.clip.visual.conv1.kernel_size[0]
    grid = s.image_size // patch
    n, depth = cfg.prompts.length, cfg.prompts.depth
    L = 1 + grid * grid + n  # class token, patches, prompt tokens
    tda = D + 2 * D * d + 6 * d * d  # scale, down + up, GRU (3 gates x (input + hidden) x hidden)
    token = 12 * D * D + 2 * D * d + tda  # qkv + out projections (4D^2), MLP (8D^2), ShA, TDA
    full_block = L * token + 2 * L * L * D  # + attention scores and weighted sum
    # class token only: its query and output projection, keys and values of all L tokens, one attention row
    last = full_block if not cls_only_last else token - 2 * D * D + 2 * L * D * D + 2 * L * D
    per_frame = grid * grid * D * 3 * patch * patch + (s.vision_layers - 1) * full_block + last + D * E
    coupling = depth * n * s.text_width * D
    return frames * per_frame + coupling


@pytest.mark.parametrize("cls_only_last", [False, True])
def test_vision_flops_equal_the_hand_formula(cls_only_last):
    model = tiny_model()
    model.cls_only_last_block = cls_only_last
    count = perf.flops(model, frames=4)
    assert count.vision_forward == 2 * _vision_macs(model, 4, cls_only_last)


def test_text_flops_equal_the_hand_formula():
    model = tiny_model()
    s, cfg = model.sizes, model.config
    # L: the class tokens up to the last EOT (the padding after it is dropped, see backbone.trim_padding)
    D, d, C, L = s.text_width, s.text_width // cfg.adapters.reduction, cfg.num_classes, model.text_tokens().shape[1]
    block = C * (L * (12 * D * D + 4 * D * d) + 2 * L * L * D)  # attention, MLP, ShA and TA on every token
    coupling = cfg.prompts.depth * cfg.prompts.length * D * s.vision_width  # prompts are made for both towers
    count = perf.flops(model)
    assert count.text_forward == 2 * (s.text_layers * block + C * D * s.embed_dim + coupling)
    assert count.vision_train > count.vision_forward and count.text_train > count.text_forward
    assert count.train_step(3) == 3 * count.vision_train + count.text_train


def test_vit_b16_flops_match_spec_estimate():
    with torch.device("meta"):
        model = peclip.create_model("peclip-vit-b16")
    model.to("meta")
    model.cls_only_last_block = False  # docs/spec.md 6.3 counts every token in every block
    video = torch.empty(1, 16, 3, 224, 224, device="meta")
    model.train()  # the text cache is only looked up in eval
    with torch.no_grad():
        vision = perf.count_flops(model.encode_video, video) / 2e9
        text_trimmed = perf.count_flops(model.encode_classes) / 2e9
        model.trim_text_padding = False
        text_full = perf.count_flops(model.encode_classes) / 2e9
    assert vision == pytest.approx(297, rel=0.005)  # docs/spec.md 6.3: ~297 GMACs per 16-frame clip
    assert text_full == pytest.approx(21.7, rel=0.005)  # docs/spec.md 6.3: ~21.7 GMACs for the 7 class texts
    assert model.text_tokens().shape[1] == 77 and text_trimmed == pytest.approx(8.9, rel=0.01)  # padding dropped

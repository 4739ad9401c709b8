"""Attention rollout: toy attention with known answers, prompt tokens left out, and the recording seam."""

import numpy as np
import pytest
import torch

from model_helpers import activate_tda, random_video, tiny_model
from peclip import backbone
from peclip.evaluation.explain import attention_rollout, explain_clip, rollout_product


def _row_stochastic(*shape, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(*shape, generator=gen) + 0.05
    return a / a.sum(dim=-1, keepdim=True)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.5])
def test_identity_attention_gives_the_uniform_map(fusion, discard):
    # 1 class token, a 3x4 grid, 2 prompt tokens; every block's every head attends only to itself
    length = 1 + 12 + 2
    eye = torch.eye(length).expand(5, 3, length, length)  # (N frames, heads, L, L)
    maps = attention_rollout([eye] * 4, (3, 4), num_prompt_tokens=2, head_fusion=fusion, discard_ratio=discard)
    assert maps.shape == (5, 3, 4)
    torch.testing.assert_close(maps, torch.full((5, 3, 4), 1 / 12))


def test_rollout_of_a_hand_worked_three_token_example():
    # class token + a 1x2 grid, one head; worked on paper:
    # a1 = (A1 + I) / 2 = [[.75, .25, 0], [0, 1, 0], [0, 0, 1]],  a2 = [[.75, 0, .25], [0, 1, 0], [0, 0, 1]]
    # row 0 of a2 @ a1 = [.5625, .1875, .25]  ->  patches [.1875, .25] / .4375 = [3/7, 4/7]
    a1 = torch.tensor([[[[.5, .5, 0], [0, 1, 0], [0, 0, 1]]]])
    a2 = torch.tensor([[[[.5, 0, .5], [0, 1, 0], [0, 0, 1]]]])
    maps = attention_rollout([a1, a2], (1, 2))
    torch.testing.assert_close(maps, torch.tensor([[[3 / 7, 4 / 7]]]))


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_two_block_rollout_equals_the_product_written_out(fusion):
    grid, prompts = (2, 2), 1
    length = 1 + 4 + prompts
    blocks = [_row_stochastic(3, 2, length, length, seed=s).double() for s in (1, 2)]  # (N, heads, L, L)
    maps = attention_rollout(blocks, grid, prompts, head_fusion=fusion)
    reduce = {"mean": np.mean, "max": np.max, "min": np.min}[fusion]
    for frame in range(3):
        steps = []
        for block in blocks:
            fused = reduce(block[frame].numpy(), axis=0)
            with_residual = fused + np.eye(length)
            steps.append(with_residual / with_residual.sum(axis=1, keepdims=True))
        product = steps[1] @ steps[0]
        patches = product[0, 1:5]  # the prompt token (column 5) is not on the map
        expected = (patches / patches.sum()).reshape(2, 2)
        np.testing.assert_allclose(maps[frame].numpy(), expected, rtol=1e-12)


def test_discard_ratio_drops_the_weakest_entries_but_keeps_the_class_token_own():
    # one head, 3 tokens (class + 1x2 grid): entries below the 5 largest of 9 are dropped
    a = torch.tensor([[[[.01, .59, .40], [.30, .60, .10], [.05, .05, .90]]]])
    # after dropping 4 of 9 (0.01 is the weakest but is entry (0, 0), kept; .05, .05, .10 dropped, then .30):
    # fused = [[.01, .59, .40], [0, .60, 0], [0, 0, .90]]
    kept = torch.tensor([[[.01, .59, .40], [0, .60, 0], [0, 0, .90]]])
    manual = rollout_product([kept])
    got = rollout_product([a.mean(dim=1)], discard_ratio=4 / 9 + 1e-9)
    torch.testing.assert_close(got, manual)
    row = manual[0, 0, 1:]
    torch.testing.assert_close(attention_rollout([a], (1, 2), discard_ratio=4 / 9 + 1e-9)[0, 0], row / row.sum())


def test_prompt_tokens_are_left_out_and_every_map_sums_to_one():
    # the class token gives most of its attention to the two prompt tokens; the map is the patch part
    length = 1 + 4 + 2
    a = torch.zeros(1, 1, length, length)
    a[0, 0] = torch.tensor([.1, .05, .05, .05, .15, .3, .3])
    a[0, 0, 1:] = torch.eye(length)[1:]
    maps = attention_rollout([a], (2, 2), num_prompt_tokens=2)
    torch.testing.assert_close(maps[0].flatten(), torch.tensor([.05, .05, .05, .15]) / .3)
    many = attention_rollout([_row_stochastic(4, 2, length, length, seed=s) for s in range(3)], (2, 2), 2)
    torch.testing.assert_close(many.sum(dim=(1, 2)), torch.ones(4))
    with pytest.raises(ValueError, match="2x2 patches"):
        attention_rollout([a], (2, 2), num_prompt_tokens=1)


def test_recording_the_attention_changes_no_output():
    model = tiny_model(num_frames=3).eval()
    activate_tda(model)
    video = random_video(2, 3)
    with torch.no_grad():
        reference = model(video)
        for cls_only in (True, False):
            model.cls_only_last_block = cls_only
            with backbone.record_vision_attention(model.clip) as records:
                logits = model(video)
            torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)
            assert [r.block for r in records] == [0, 1, 2]
            # (B*T, heads, L_query, L): class + 2x2 patches + 2 prompt tokens; the last block's query is the class
            # token alone when it runs for the class token only
            assert records[0].probs.shape == (6, 2, 7, 7)
            assert records[-1].probs.shape == (6, 2, 1 if cls_only else 7, 7)
    assert all("attention" not in vars(b) for b in backbone.vision_blocks(model.clip))  # the seam is closed


def test_explain_clip_rollout_is_the_rollout_of_the_recorded_attention():
    model = tiny_model(num_frames=4, **{"backbone.arch.vision_cfg.image_size": 64}).eval()  # a 4x4 grid
    video = random_video(1, 4, size=64)
    explanation = explain_clip(model, video[0], head_fusion="max", discard_ratio=0.3)
    model.cls_only_last_block = False
    with torch.no_grad(), backbone.record_vision_attention(model.clip) as records:
        logits = model(video)
    expected = attention_rollout([r.probs for r in records], (4, 4), 2, "max", 0.3)
    np.testing.assert_allclose(explanation.rollout, expected.numpy(), atol=1e-6)
    assert explanation.rollout.shape == explanation.class_map.shape == (4, 4, 4)
    np.testing.assert_allclose(explanation.rollout.sum(axis=(1, 2)), 1, atol=1e-5)
    np.testing.assert_allclose(explanation.class_map.sum(axis=(1, 2)), 1, atol=1e-5)
    np.testing.assert_allclose(explanation.probabilities, logits.softmax(-1)[0].numpy(), atol=1e-5)
    assert explanation.class_index == int(logits.argmax())
    assert model.cls_only_last_block is False  # we switched it off above; explain_clip restores what it found
    model.cls_only_last_block = True
    explain_clip(model, video[0])
    assert model.cls_only_last_block is True
    assert all(p.grad is None for p in model.parameters())  # explaining leaves no gradients behind

"""Temporal saliency: the TDA's dynamic scale s of the class token per block and frame, and frame-text similarity."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_helpers import activate_tda, random_video, tiny_model
from peclip.evaluation.explain import explain_clip, record_tda_scales, tda_blocks


@pytest.mark.parametrize("scale", ["relu", "sigmoid"])
def test_recorded_scales_equal_the_tda_own_s(scale):
    model = tiny_model(num_frames=5, **{"temporal.scale": scale}).eval()
    activate_tda(model)
    video = random_video(1, 5, seed=3)
    # what each TDA receives, read by a hook on the TDA itself; s recomputed from its own layers
    inputs = {}
    handles = [tda.register_forward_hook(lambda m, args, out, i=i: inputs.__setitem__(i, args[0].detach()))
               for i, tda in tda_blocks(model)]
    try:
        explanation = explain_clip(model, video[0])
    finally:
        for handle in handles:
            handle.remove()
    assert explanation.tda_blocks == [0, 1, 2]
    assert explanation.tda_scale.shape == (3, 5)  # blocks x frames
    with torch.no_grad():
        for row, (index, tda) in enumerate(tda_blocks(model)):
            h = inputs[index]  # (T, L, D): one clip, every token (the last block runs in full)
            s = tda.scale_act(tda.scale(tda.layer_norm(h)))  # (T, L, 1), docs/spec.md 2.4
            np.testing.assert_allclose(explanation.tda_scale[row], s[:, 0, 0].numpy(), rtol=1e-5, atol=1e-6)
    if scale == "relu":
        assert (explanation.tda_scale >= 0).all()
    else:
        assert ((explanation.tda_scale > 0) & (explanation.tda_scale < 1)).all()
    assert np.ptp(explanation.tda_scale, axis=1).max() > 0  # it varies over the frames (ReLU may zero a block)


def test_the_scale_hook_records_every_forward_and_is_removed():
    model = tiny_model(num_frames=2).eval()
    with torch.no_grad(), record_tda_scales(model) as scales:
        model(random_video(3, 2))
        model(random_video(1, 2))
    assert sorted(scales) == [0, 1, 2]
    assert [s.shape for s in scales[0]] == [(6, 7, 1), (2, 7, 1)]  # (B*T, L, 1) per forward
    assert scales[2][0].shape == (6, 1, 1)  # the last block ran for the class token only
    assert all(not tda.scale_act._forward_hooks for _, tda in tda_blocks(model))


def test_frame_similarity_is_the_cosine_with_the_explained_class_text():
    model = tiny_model(num_frames=4).eval()
    activate_tda(model)
    video = random_video(1, 4, seed=7)
    explanation = explain_clip(model, video[0], class_index=2)
    with torch.no_grad():
        _, frames = model.encode_video(video, return_frames=True)  # (1, T, E)
        expected = F.normalize(frames[0], dim=-1) @ model.encode_classes()[2]
    np.testing.assert_allclose(explanation.frame_similarity, expected.numpy(), atol=1e-5)
    assert explanation.class_name == model.class_names[2]


def test_a_model_without_tda_has_no_temporal_scale():
    model = tiny_model("test-clip-vit-b16", num_frames=3).eval()
    explanation = explain_clip(model, random_video(1, 3)[0])
    assert explanation.tda_scale is None and explanation.tda_blocks == []
    assert explanation.rollout.shape == (3, 2, 2)  # no prompt tokens: 1 class token + 2x2 patches
    np.testing.assert_allclose(explanation.rollout.sum(axis=(1, 2)), 1, atol=1e-5)

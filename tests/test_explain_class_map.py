"""Class-specific maps: a model built so that its logits depend on one image region only, and Grad-CAM by hand."""

import copy

import pytest
import torch
import torch.nn.functional as F

from model_helpers import tiny_model
from peclip import backbone
from peclip.evaluation.explain import explain_clip, grad_cam, resolve_class
from peclip.model import ClassEmbeddings

REGION = 6  # patch (1, 2) of the 4x4 grid: pixels [16:32, 32:48]
SIZE, PATCH = 64, 16


def _one_region_model(seed):
    """A 2-block tiny PE-CLIP whose class token reads patch REGION only.

    Block 0 mixes no tokens (its attention output projection is zero). Channel 5 of the tokens is
    written by no pixel, only by the positional embedding, and only for patch REGION; the last block's
    queries and keys look at that channel alone, with a scale that makes the class token's attention
    on REGION 1 to within float precision. So the image reaches the class token through REGION only.
    """
    model = tiny_model(seed=seed, num_frames=2, **{"backbone.arch.vision_cfg.image_size": SIZE,
                                                   "backbone.arch.vision_cfg.layers": 2}).eval()
    visual, channel, width = model.clip.visual, 5, 64
    with torch.no_grad():
        visual.conv1.weight[channel] = 0
        visual.positional_embedding[:, channel] = 0
        visual.positional_embedding[1 + REGION, channel] = 3.0
        first, last = backbone.vision_blocks(model.clip)
        first.attn.out_proj.weight.zero_()
        first.attn.out_proj.bias.zero_()
        weight, bias = last.attn.in_proj_weight, last.attn.in_proj_bias
        weight[:2 * width] = 0  # queries and keys
        bias[:2 * width] = 0
        for head in range(2):  # head width 32: the first dimension of each head's query and key
            bias[head * 32] = 40.0  # a constant query...
            weight[width + head * 32, channel] = 1.0  # ...against the key that reads the channel
    return model


def _outside(video, fill):
    out = video.clone()
    row, col = divmod(REGION, 4)
    keep = out[..., row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH].clone()
    out[:] = fill
    out[..., row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = keep
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_logit_that_depends_on_one_region_peaks_its_class_map_there(seed):
    model = _one_region_model(seed)
    video = torch.rand(1, 2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits = model(video)
        # the construction holds: other pixels change nothing, the region's pixels do
        torch.testing.assert_close(model(_outside(video, 0.5)), logits, atol=1e-5, rtol=0)
        inside = video.clone()
        row, col = divmod(REGION, 4)
        inside[..., row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = 0.5
        assert (model(inside) - logits).abs().max() > 1e-2
        # the class texts: class 0 is the direction in which looking at the region moves the video embedding,
        # class 1 the opposite; so the region is evidence for class 0 and against class 1
        blind = copy.deepcopy(model)
        backbone.vision_blocks(blind.clip)[-1].attn.in_proj_bias.zero_()  # uniform attention: region not singled out
        toward = F.normalize(model.encode_video(video) - blind.encode_video(video), dim=-1)[0]
        texts = model.encode_classes().clone()
        texts[0], texts[1] = toward, -toward
    # built in the test: the class-text side is ours too (forward reads encode_class_texts)
    model.encode_classes = lambda *args, **kwargs: texts
    model.encode_class_texts = lambda *args, **kwargs: ClassEmbeddings(texts)
    for method in ("grad-rollout", "gradcam"):
        evidence = explain_clip(model, video[0], class_index=0, method=method).class_map.reshape(2, 16)
        assert (evidence.argmax(axis=1) == REGION).all(), (method, evidence)
    # gradient rollout follows attention, which here falls on the region alone
    assert (explain_clip(model, video[0], class_index=0).class_map.reshape(2, 16)[:, REGION] > 0.99).all()
    assert (explain_clip(model, video[0]).rollout.reshape(2, 16).argmax(axis=1) == REGION).all()


def test_grad_cam_by_hand():
    # 1 frame, class token + a 1x2 grid, 2 channels
    tokens = torch.tensor([[[9.0, 9.0], [1.0, 2.0], [3.0, -1.0]]])
    grads = torch.tensor([[[5.0, 5.0], [0.2, 0.4], [0.6, -0.4]]])  # the class token's gradient is not used
    # channel weights: mean over the patches = [0.4, 0.0]; cam = ReLU([0.4, 1.2]) -> [0.25, 0.75]
    torch.testing.assert_close(grad_cam(tokens, grads, (1, 2)), torch.tensor([[[0.25, 0.75]]]))
    # no positive evidence anywhere: the uniform map
    torch.testing.assert_close(grad_cam(tokens, -grads, (1, 2)), torch.tensor([[[0.5, 0.5]]]))


def test_class_by_name_and_bad_settings_are_reported():
    model = tiny_model(num_frames=2)
    assert resolve_class(model, "fear") == model.class_names.index("fear")
    assert resolve_class(model, None) is None
    with pytest.raises(ValueError, match="happiness"):
        resolve_class(model, "joy")
    video = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="grad-rollout"):
        explain_clip(model, video, method="saliency")
    with pytest.raises(ValueError, match="mean"):
        explain_clip(model, video, head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        explain_clip(model, video, discard_ratio=1.0)

"""With every PE-CLIP part off, our towers equal open_clip's own encode_image / encode_text."""

import pytest
import torch
import torch.nn.functional as F

from model_helpers import random_video, tiny_model

OFF = {"prompts.enabled": False, "adapters.shared": False, "adapters.text_mlp": False, "temporal.enabled": False}


def _check_parity(model, size):
    model.eval()
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours = model.encode_video(images.unsqueeze(1))  # three one-frame clips
        theirs = F.normalize(model.clip.encode_image(images), dim=-1)
        assert torch.allclose(ours, theirs, atol=1e-5)
        text_ours = model.encode_classes()
        # open_clip reads the full 77-token context; ours drops the padding after the last EOT (exact).
        full_tokens = F.pad(model.class_tokens, (0, model.clip.context_length - model.class_tokens.shape[1]))
        text_theirs = F.normalize(model.clip.encode_text(full_tokens), dim=-1)
        assert torch.allclose(text_ours, text_theirs, atol=1e-5)


@pytest.mark.parametrize("name", ["test-peclip-vit-b16", "test-peclip-vit-b32", "test-peclip-vit-l14"])
def test_all_parts_off_equals_open_clip_on_tiny_models(name):
    model = tiny_model(name, **OFF)
    _check_parity(model, model.sizes.image_size)


def test_all_parts_off_equals_open_clip_on_vit_b16_random_weights():
    model = tiny_model("peclip-vit-b16", **OFF)
    _check_parity(model, 224)


def test_the_zero_initialised_tda_alone_is_the_identity():
    tda_only = tiny_model(**{**OFF, "temporal.enabled": True})
    plain = tiny_model(**OFF)
    tda_only.eval(), plain.eval()
    video = random_video(2, 4)
    with torch.no_grad():
        assert torch.allclose(tda_only.encode_video(video), plain.encode_video(video), atol=1e-6)


def test_video_embedding_is_the_normalised_mean_of_frame_embeddings():
    model = tiny_model(**OFF).eval()
    video = random_video(2, 5)
    with torch.no_grad():
        pooled, frames = model.encode_video(video, return_frames=True)
        per_frame = model.clip.encode_image(video.flatten(0, 1)).view(2, 5, -1)
    assert torch.allclose(frames, per_frame, atol=1e-5)
    assert torch.allclose(pooled, F.normalize(per_frame.mean(1), dim=-1), atol=1e-5)


def test_logits_are_100_times_the_cosine():
    model = tiny_model().eval()
    video = random_video(2, 4)
    with torch.no_grad():
        logits = model(video)
        cos = model.encode_video(video) @ model.encode_classes().T
    assert torch.allclose(logits, 100 * cos, atol=1e-4)


def test_the_class_token_only_last_block_gives_the_full_blocks_result():
    from model_helpers import activate_tda

    model = tiny_model().eval()
    activate_tda(model)
    video = random_video(2, 4)
    with torch.no_grad():
        fast = model.encode_video(video)
        model.cls_only_last_block = False
        full = model.encode_video(video)
    assert torch.allclose(fast, full, atol=1e-6)

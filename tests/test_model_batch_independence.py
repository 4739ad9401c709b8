"""A clip's logits do not depend on the other clips in its batch (per-video TDA, docs/spec.md 10 A1)."""

import torch

from model_helpers import activate_tda, random_video, tiny_model


def _alone_and_in_batch(per_video: bool):
    model = tiny_model(**{"temporal.per_video": per_video}).eval()
    activate_tda(model)
    batch = random_video(3, 4)
    with torch.no_grad():
        in_batch = model(batch)
        alone = torch.stack([model(batch[i:i + 1])[0] for i in range(3)])
    return in_batch, alone


def test_per_video_gru_makes_every_clip_batch_independent():
    in_batch, alone = _alone_and_in_batch(per_video=True)
    assert torch.allclose(in_batch, alone, atol=1e-5)


def test_official_code_mode_leaks_across_videos_after_the_first_clip():
    in_batch, alone = _alone_and_in_batch(per_video=False)
    # The recurrence runs forward over the flattened batch, so the first clip is unaffected ...
    assert torch.allclose(in_batch[0], alone[0], atol=1e-5)
    # ... and every later clip sees the clips before it.
    assert (in_batch[1:] - alone[1:]).abs().amax() > 1e-3


def test_frame_order_matters_to_the_tda():
    model = tiny_model().eval()
    activate_tda(model)
    video = random_video(1, 6)
    with torch.no_grad():
        forward, backward = model(video), model(video.flip(1))
    assert (forward - backward).abs().amax() > 1e-4


def test_bad_video_shapes_get_a_message_that_names_the_expected_shape():
    import pytest

    model = tiny_model()
    with pytest.raises(ValueError, match=r"\(B, T, 3, 32, 32\)"):
        model(torch.rand(1, 4, 3, 64, 64))
    with pytest.raises(ValueError, match="uint8"):
        model(torch.zeros(1, 4, 3, 32, 32, dtype=torch.uint8))

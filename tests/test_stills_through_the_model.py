"""Stills through the model: ``temporal.stills: repeat`` (default) is exactly a clip of T copies, ``skip`` is
one frame with the TDA's residual branch off; why they differ (the GRU runs on over identical frames), and
the separate image/video heads chosen by input rank."""

import pytest
import torch

from model_helpers import activate_tda, tiny_model
from peclip.adapters import TemporalDynamicAdapter


def _stills(n=2, seed=0):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_a_still_by_default_is_exactly_a_clip_of_t_copies_of_itself():
    model = tiny_model(num_frames=4).eval()
    activate_tda(model)
    images = _stills()
    with torch.no_grad():
        still = model(images)
        clip = model(images.unsqueeze(1).expand(-1, 4, -1, -1, -1))
    assert model.config.temporal.stills == "repeat"
    assert torch.equal(still, clip)


def test_skip_mode_is_one_frame_with_every_tda_the_identity():
    model = tiny_model(num_frames=4, **{"temporal.stills": "skip"}).eval()
    activate_tda(model)
    images = _stills()
    with torch.no_grad():
        skipped = model(images)
        for adapter in model.adapters():  # the same model with every TDA's up-projection at zero
            if isinstance(adapter, TemporalDynamicAdapter):
                adapter.up_proj.weight.zero_()
                adapter.up_proj.bias.zero_()
        identity_tda = model(images.unsqueeze(1))  # one frame, TDA now the identity
    assert torch.allclose(skipped, identity_tda, atol=1e-6)


def test_with_an_active_tda_identical_frames_do_not_give_identical_features():
    # The GRU starts from h0 = 0 and runs on over T copies of the same input: its state (and so each
    # frame's features) keeps changing, so T copies are not one frame, and repeat differs from skip.
    model = tiny_model(num_frames=4).eval()
    activate_tda(model, std=0.5)
    images = _stills(1)
    with torch.no_grad():
        _, frames = model.encode_video(images.unsqueeze(1).expand(-1, 4, -1, -1, -1), return_frames=True)
        repeat = model(images)
        model.config.temporal.stills = "skip"
        skip = model(images)
    steps = (frames[0, 1:] - frames[0, :-1]).norm(dim=-1)  # (T-1,)
    assert bool((steps > 1e-4).all())
    assert not torch.allclose(repeat, skip, atol=1e-4)


def test_at_initialisation_the_tda_is_the_identity_so_both_modes_agree():
    model = tiny_model(num_frames=4).eval()
    images = _stills()
    with torch.no_grad():
        repeat = model(images)
        model.config.temporal.stills = "skip"
        skip = model(images)
    assert torch.allclose(repeat, skip, atol=1e-5)


@pytest.mark.parametrize("mode,tda_learns", [("repeat", True), ("skip", False)])
def test_stills_train_the_tda_only_when_they_pass_it(mode, tda_learns):
    model = tiny_model(num_frames=2, **{"temporal.stills": mode}).train()
    activate_tda(model)
    loss = model(_stills()).logsumexp(dim=1).sum()
    loss.backward()
    tda_grads = [p.grad for a in model.adapters() if isinstance(a, TemporalDynamicAdapter) for p in a.parameters()]
    assert any(g is not None and bool(g.abs().sum() > 0) for g in tda_grads) is tda_learns
    shared = model.param_groups()["prompts"]
    assert all(p.grad is not None for p in shared)  # prompts learn from stills in both modes


def test_a_model_without_the_tda_encodes_a_still_once_with_the_same_result():
    model = tiny_model(num_frames=4, **{"temporal.enabled": False}).eval()
    images = _stills()
    with torch.no_grad():
        still = model(images)
        clip = model(images.unsqueeze(1).expand(-1, 4, -1, -1, -1))
    assert torch.allclose(still, clip, atol=1e-5)


def test_a_bad_still_mode_names_the_valid_ones():
    with pytest.raises(ValueError, match="temporal.stills='mean' is not valid; choose one of: repeat, skip"):
        tiny_model(**{"temporal.stills": "mean"})


def test_separate_heads_start_as_the_shared_classifier_and_are_chosen_by_input_rank():
    shared = tiny_model(num_frames=2).eval()
    separate = tiny_model(num_frames=2, heads="separate").eval()
    separate.load_state_dict(shared.state_dict(), strict=False)  # same CLIP, prompts and adapters
    images = _stills()
    clips = images.unsqueeze(1).expand(-1, 2, -1, -1, -1)
    with torch.no_grad():
        assert torch.allclose(shared(images), separate(images), atol=1e-6)  # zero-initialised heads
        separate.domain_heads.image.bias.fill_(0.5)
        separate.domain_heads.video.bias.fill_(-0.25)
        assert torch.allclose(separate(images), shared(images) + 100 * 0.5, atol=1e-4)  # image head
        assert torch.allclose(separate(clips), shared(clips) - 100 * 0.25, atol=1e-4)  # video head
    names = [n for n, _ in separate.named_trainable_parameters()]
    assert {"domain_heads.image.weight", "domain_heads.video.bias"} <= set(names)
    assert separate.parameter_report()["heads: image / video"] == 2 * (32 * 7 + 7)

"""Gradients reach every trainable parameter and no frozen one; freezing is structural."""

import pytest
import torch

from model_helpers import activate_tda, random_video, tiny_model


@pytest.mark.parametrize("overrides", [{}, {"temporal.per_video": False}, {"temporal.rnn": "lstm"}])
def test_backward_reaches_every_trainable_parameter_and_no_frozen_one(overrides):
    model = tiny_model(**overrides).train()
    activate_tda(model)  # a zero up-projection would block the gradient to the GRU and down-projection
    loss = torch.nn.functional.cross_entropy(model(random_video(2, 4)), torch.tensor([0, 3]))
    loss.backward()
    trainable = {id(p) for p in model.trainable_parameters()}
    for name, p in model.named_parameters():
        if id(p) in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"
        else:
            assert p.grad is None and not p.requires_grad, f"frozen {name} got a gradient"


def test_every_trainable_parameter_is_in_exactly_one_optimizer_group():
    model = tiny_model()
    groups = model.param_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}
    assert sum(p.numel() for p in groups["prompts"]) == sum(p.numel() for p in model.prompts.parameters())


def test_freeze_backbone_undoes_an_accidental_unfreeze():
    model = tiny_model()
    model.requires_grad_(True)
    model.freeze_backbone()
    assert all(not p.requires_grad for p in model.clip.parameters()
               if id(p) not in {id(q) for q in model.trainable_parameters()})


def test_activation_checkpointing_gives_the_same_gradients():
    video, target = random_video(2, 4), torch.tensor([1, 2])
    grads = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        activate_tda(model)
        model.grad_checkpointing = checkpointing
        torch.nn.functional.cross_entropy(model(video), target).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.trainable_parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)

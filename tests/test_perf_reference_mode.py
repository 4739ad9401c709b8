"""The reference mode (the official code's way of running) computes what the default mode computes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model_helpers import activate_tda, random_video, tiny_model
from peclip import perf


def _pair():
    model = tiny_model()
    activate_tda(model)  # the TDA starts as the identity; make the GRU matter
    return perf.configure_default(model), perf.reference_model(model)


def test_reference_model_has_the_official_switches_and_leaves_the_model_alone():
    model, ref = _pair()
    assert ref.config.temporal.per_video is False
    assert all(not a.per_video for a in ref.adapters() if hasattr(a, "rnn"))
    assert (ref.cache_class_texts, ref.cls_only_last_block, ref.grad_checkpointing) == (False, False, False)
    assert model.config.temporal.per_video is True
    assert (model.cache_class_texts, model.cls_only_last_block) == (True, True)
    assert ref.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), model.state_dict().values(), strict=True))


def test_reference_and_default_logits_agree_at_batch_one():
    model, ref = _pair()
    model.eval()
    ref.eval()
    video = random_video(1, 8)
    with torch.no_grad():
        default = model(video)
        model(video)  # second call uses the cached class texts
        cached = model(video)
        with perf.math_attention():
            reference = ref(video)
    torch.testing.assert_close(reference, default, rtol=0, atol=1e-4)
    torch.testing.assert_close(cached, default, rtol=0, atol=0)


def test_reference_gru_carries_state_across_clips_of_a_batch():
    model, ref = _pair()
    model.eval()
    ref.eval()
    video = random_video(2, 8)
    with torch.no_grad():
        default, reference = model(video), ref(video)
    torch.testing.assert_close(reference[0], default[0], rtol=0, atol=1e-4)  # the first clip sees no other
    assert (reference[1] - default[1]).abs().max() > 1e-3  # docs/spec.md 10 A1: the second clip does


def test_reference_and_default_training_gradients_agree_at_batch_one():
    model, ref = _pair()
    video, label = random_video(1, 4), torch.tensor([3])
    grads = []
    for m, ctx in ((model, perf.autocast("cpu", None)), (ref, perf.math_attention())):
        m.train()
        with ctx:
            F.cross_entropy(m(video), label).backward()
        grads.append({n: p.grad for n, p in m.named_trainable_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-3, atol=1e-5, msg=name)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(model.get_parameter(n).grad is None for n in frozen)

"""FineCLIPER's positive/negative class descriptors (``text_kind: pn``, docs/text-supervision.md) and the
adapter scale: texts, the negative adapter bank, both logit rules, caching, checkpointing, counts."""

import json

import pytest
import torch
import torch.nn.functional as F

import peclip
from model_helpers import random_video, tiny_model
from peclip import backbone
from peclip.adapters import BottleneckAdapter
from peclip.cli import main

FOUR = {"num_frames": 4}


def _negative_params(model):
    return {n: p for n, p in model.named_parameters() if ".negative_adapter." in n}


def test_pn_builds_positive_and_negative_texts_from_configurable_templates():
    model = tiny_model(text_kind="pn", **FOUR)
    assert model.class_texts[0] == "A person with an expression of happiness"
    assert model.negative_texts[0] == "A person with an expression of no happiness"
    custom = tiny_model(text_kind="pn", classes=["right", "left"], **{"pn.positive": "moving {}",
                                                                       "pn.negative": "not moving {}"}, **FOUR)
    assert (custom.class_texts, custom.negative_texts) == (["moving right", "moving left"],
                                                           ["not moving right", "not moving left"])
    with pytest.raises(ValueError, match="pn.negative"):
        tiny_model(text_kind="pn", **{"pn.negative": "no {} and {}"})
    assert tiny_model(**FOUR).negative_texts is None  # off by default


@pytest.mark.parametrize("rule", ["difference", "softmax2c"])
def test_negative_adapters_get_gradients_under_both_logit_rules(rule):
    model = tiny_model(text_kind="pn", **{"pn.rule": rule}, **FOUR)
    out = model(random_video(2, 4), return_outputs=True)
    width = 7 if rule == "difference" else 14
    assert out.logits.shape == (2, 7) and out.loss_logits.shape == (2, width)
    F.cross_entropy(out.loss_logits, torch.tensor([0, 3])).backward()
    negative = _negative_params(model)
    assert len(negative) == 3 * 2 * 4  # 3 text blocks x (ShA, TA) x (down, up) x (weight, bias)
    for name, p in negative.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    assert set(negative) <= {n for n, _ in model.named_trainable_parameters()}


def test_logit_rules_follow_their_documented_formulas():
    video = random_video(3, 4)
    model = tiny_model(text_kind="pn", **FOUR).eval()
    with torch.no_grad():
        model.pn_weight.fill_(0.3)
        v = model.encode_video(video)
        pos, neg = model.encode_class_texts()
        expected = 100.0 * (v @ pos.T - 0.3 * v @ neg.T)
        torch.testing.assert_close(model(video), expected)
    model2 = tiny_model(text_kind="pn", **{"pn.rule": "softmax2c"}, **FOUR).eval()
    with torch.no_grad():
        out = model2(video, return_outputs=True)
        pos, neg = model2.encode_class_texts()
        torch.testing.assert_close(out.logits, 100.0 * out.videos @ pos.T)
        torch.testing.assert_close(out.loss_logits, 100.0 * torch.cat([out.videos @ pos.T, out.videos @ neg.T], 1))
    assert model2.pn_weight is None


def test_shared_adapters_run_the_negative_texts_through_the_positive_bank():
    separate = tiny_model(text_kind="pn", **FOUR)
    shared = tiny_model(text_kind="pn", **{"pn.share_adapters": True}, **FOUR)
    assert _negative_params(shared) == {}
    extra = sum(p.numel() for p in _negative_params(separate).values())
    assert sum(p.numel() for p in separate.trainable_parameters()) - \
        sum(p.numel() for p in shared.trainable_parameters()) == extra
    with torch.no_grad():
        neg = shared.encode_class_texts().negative
        prompts = shared.prompt_tokens()[0]
        direct = F.normalize(backbone.encode_texts(shared.clip, shared.negative_tokens[:, :shared._negative_length],
                                                   prompts), dim=-1)
    torch.testing.assert_close(neg, direct)


def test_negative_texts_are_cached_in_eval_like_the_positive_ones(monkeypatch):
    model = tiny_model(text_kind="pn", **FOUR).eval()
    calls = []
    real = backbone.encode_texts
    monkeypatch.setattr(backbone, "encode_texts", lambda *a, **k: calls.append(a[1].shape[0]) or real(*a, **k))
    video = random_video(2, 4)
    with torch.no_grad():
        first = model(video)
        second = model(random_video(2, 4, seed=1))
        assert calls == [7, 7]  # positive and negative texts once, then from the cache
        model.pn_weight.add_(0.5)  # a trainable weight changed: recomputed
        model(video)
    assert calls == [7, 7, 7, 7]
    assert first.shape == second.shape == (2, 7)


def test_activation_checkpointing_keeps_the_negative_bank_during_recomputation():
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(text_kind="pn", **FOUR)
        model.grad_checkpointing = checkpointing
        out = model(random_video(2, 4), return_outputs=True)
        F.cross_entropy(out.loss_logits, torch.tensor([1, 2])).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_trainable_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_pn_checkpoint_round_trip_keeps_negative_texts_and_logits(tmp_path):
    model = tiny_model(text_kind="pn", **FOUR)
    with torch.no_grad():
        for p in _negative_params(model).values():
            p.add_(0.01)
    model.set_class_texts(model.class_texts, model.class_names, [f"hardly {c}" for c in model.class_names])
    peclip.save(model.eval(), tmp_path / "ckpt")
    loaded = peclip.load(tmp_path / "ckpt", pretrained="none").eval()
    # the test model was built with seed 0 and no init_seed recorded: copy the frozen CLIP to compare logits
    loaded.clip.load_state_dict(model.clip.state_dict())
    assert loaded.negative_texts == model.negative_texts
    video = random_video(2, 4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video), model(video))


def test_info_reports_the_parameter_count_with_pn(capsys):
    assert main(["info", "test-peclip-vit-b16", "--set", "text_kind=pn", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    components = report["components"]
    assert components["adapters: text ShA (negative texts)"] == components["adapters: text ShA"] == 3_288
    assert components["adapters: text TA (negative texts)"] == components["adapters: text TA"] == 3_288
    assert components["pn: negative weight"] == 1
    assert report["trainable"] == 23_603 + 2 * 3_288 + 1  # positive-only tiny model: 23,603
    with torch.device("meta"):
        full = peclip.create_model("peclip-vit-b16", text_kind="pn")
    assert sum(p.numel() for p in full.trainable_parameters()) == 9_399_564 + 2 * 793_344 + 1


def test_adapter_scale_multiplies_the_branch_and_one_is_pe_clips_adapter():
    torch.manual_seed(0)
    full = BottleneckAdapter(16, 4)
    half = BottleneckAdapter(16, 4, scale=0.5)
    half.load_state_dict(full.state_dict())
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(half(x) - x, 0.5 * (full(x) - x))
    video = random_video(2, 4)
    default, explicit = tiny_model(**FOUR), tiny_model(**{"adapters.scale": 1.0}, **FOUR)
    scaled = tiny_model(**{"adapters.scale": 0.5}, **FOUR)
    with torch.no_grad():
        assert torch.equal(default(video), explicit(video))
        assert not torch.allclose(default(video), scaled(video))
    assert all(a.branch_scale == 0.5 for a in scaled.adapters() if isinstance(a, BottleneckAdapter))
    with pytest.raises(ValueError, match="adapters.scale"):
        tiny_model(**{"adapters.scale": 0})

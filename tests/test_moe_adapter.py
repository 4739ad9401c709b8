"""S4D's mixture of adapter experts (``adapters.moe``, off by default): its parameter count on ViT-B/16
(counted on the meta device), the router's gates and load-balancing loss against a hand computation, the
identity at the start, and its loss reaching the optimizer through the engine."""

import json
import math

import numpy as np
import torch

import peclip
from model_helpers import tiny_model
from peclip.adapters import MixtureOfAdapterExperts, cv_squared
from peclip.cli import main
from peclip.train.engine import train_one_epoch


def _expert_params(width, hidden):
    return width * hidden + hidden + hidden * width + width  # down (W, b) + up (W, b)


def test_moae_on_vit_b16_has_the_hand_counted_parameters_and_is_off_by_default():
    with torch.device("meta"):  # the sizes only: no memory, no random init
        plain = peclip.create_model("peclip-vit-b16")
        moe = peclip.create_model("peclip-vit-b16", **{"adapters.moe.enabled": True})
    assert "adapters: vision MoAE" not in plain.parameter_report()
    # 8 experts 768 -> 192 -> 768 and a gate + noise router (768 x 8 each) in the last 6 of 12 blocks
    per_block = 8 * _expert_params(768, 192) + 2 * 768 * 8
    assert per_block == 2_379_264
    assert moe.parameter_report()["adapters: vision MoAE"] == 6 * per_block == 14_275_584
    blocks = moe.clip.visual.transformer.resblocks
    assert [type(b.mlp).__name__ == "ParallelSlot" for b in blocks] == [False] * 6 + [True] * 6  # the last 6
    def count(model):
        return sum(p.numel() for p in model.trainable_parameters())

    assert count(moe) - count(plain) == 14_275_584


def test_peclip_info_reports_the_moae_count(capsys):
    assert main(["info", "test-peclip-vit-b16", "--set", "adapters.moe.enabled=true", "--set",
                 "adapters.moe.last_blocks=2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the tiny model: width 64, experts 64 -> 16 -> 64
    assert report["components"]["adapters: vision MoAE"] == 2 * (8 * _expert_params(64, 16) + 2 * 64 * 8)


def _phi(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _hand(x, w_gate, w_noise, noise, k, noisy):
    """Shazeer et al. 2017 noisy top-k gating and balancing loss, written out per token in numpy."""
    clean = x @ w_gate  # (M, E)
    if noisy:
        std = np.log1p(np.exp(x @ w_noise)) + 1e-2
        logits = clean + noise * std
    else:
        logits = clean
    m, e = logits.shape
    gates = np.zeros((m, e))
    load = np.zeros(e)
    for i in range(m):
        order = np.argsort(-logits[i], kind="stable")
        top = order[:k]
        weights = np.exp(logits[i, top] - logits[i, top].max())
        gates[i, top] = weights / weights.sum()
        for j in range(e):
            if not noisy:
                load[j] += float(j in top)
                continue
            others = np.sort(np.delete(logits[i], j))[::-1]
            threshold = others[k - 1]  # the k-th largest of the other experts
            load[j] += _phi((clean[i, j] - threshold) / std[i, j])
    importance = gates.sum(0)

    def cv2(v):
        return v.var(ddof=1) / (v.mean() ** 2 + 1e-10)

    return gates, importance, load, cv2(importance) + cv2(load)


def test_router_gates_and_balancing_loss_match_a_hand_computation():
    torch.manual_seed(0)
    moe = MixtureOfAdapterExperts(width=6, experts=5, top_k=2, reduction=2).double()
    with torch.no_grad():
        moe.w_gate.normal_()
        moe.w_noise.normal_(std=0.5)
    x = torch.randn(9, 6, dtype=torch.float64)
    noise = torch.randn(9, 5, dtype=torch.float64)
    for training in (True, False):  # noisy in training, clean (and a plain count as load) in eval
        moe.train(training)
        got = moe.route(x, noise)
        gates, importance, load, loss = _hand(x.numpy(), moe.w_gate.detach().numpy(), moe.w_noise.detach().numpy(),
                                              noise.numpy(), 2, training)
        assert np.allclose(got["gates"].detach().numpy(), gates, atol=1e-12)
        assert np.allclose(got["importance"].detach().numpy(), importance, atol=1e-12)
        assert np.allclose(got["load"].detach().numpy(), load, atol=1e-9)
        assert math.isclose(float(got["loss"].detach()), loss, rel_tol=1e-6)  # the loss is kept in fp32
        assert bool(((got["gates"] > 0).sum(1) == 2).all())  # each token goes to exactly top_k experts


def test_a_balanced_router_has_zero_loss_and_cv_squared_is_var_over_mean_squared():
    assert float(cv_squared(torch.tensor([2.0, 2.0, 2.0]))) == 0.0
    assert math.isclose(float(cv_squared(torch.tensor([1.0, 3.0]))), 2.0 / 4.0, rel_tol=1e-6)


def test_the_mixture_adds_nothing_at_the_start_and_each_expert_sees_only_its_tokens():
    moe = MixtureOfAdapterExperts(width=8, experts=4, top_k=2, reduction=2).eval()
    x = torch.randn(3, 5, 8)
    assert torch.equal(moe(x), torch.zeros_like(x))
    with torch.no_grad():
        moe.w_gate.normal_()
        for expert in moe.experts:
            expert[2].weight.normal_()
    tokens = x.reshape(-1, 8)
    gates = moe.route(tokens)["gates"]
    dense = sum(gates[:, e:e + 1] * expert(tokens) for e, expert in enumerate(moe.experts))  # all experts, masked
    assert torch.allclose(moe(x).reshape(-1, 8), dense, atol=1e-6)


def test_the_balancing_loss_reaches_the_router_through_the_engine():
    model = tiny_model(num_frames=2, **{"adapters.moe.enabled": True, "adapters.moe.last_blocks": 2})
    before = [m.w_gate.detach().clone() for m in model.moe_adapters]
    model.train()
    model(torch.rand(2, 2, 3, 32, 32))
    aux = model.auxiliary_loss()
    assert aux is not None and float(aux.detach()) >= 0
    per_block = sum(float(m.aux_loss.detach()) for m in model.moe_adapters)
    assert math.isclose(float(aux.detach()), 1e-3 * per_block, rel_tol=1e-6)
    loader = [(torch.rand(2, 2, 3, 32, 32), torch.tensor([0, 1]))] * 2
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    train_one_epoch(model, loader, optimizer, epoch=0, device=torch.device("cpu"), progress=False)
    assert all(not torch.equal(b, m.w_gate) for b, m in zip(before, model.moe_adapters, strict=True))

"""int8 CPU inference: what is quantised, that the attention rewrite is exact, and agreement with fp32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from model_helpers import activate_tda, random_video, tiny_model
from peclip import perf

DynamicLinear = torch.ao.nn.quantized.dynamic.Linear


def test_quantizable_attention_equals_multihead_attention():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    attn = perf.QuantizableAttention(mha)
    x = torch.randn(3, 9, 64)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, x, x, need_weights=False)[0], mha(x, x, x, need_weights=False)[0])
        q = x[:, :1]  # class-token query over all tokens, as in the last vision block
        torch.testing.assert_close(attn(q, x, x, need_weights=False)[0], mha(q, x, x, need_weights=False)[0])
    with pytest.raises(NotImplementedError, match="need_weights"):
        attn(x, x, x)


def test_quantize_int8_quantises_the_frozen_vision_layers_only():
    model = tiny_model()
    qmodel = perf.quantize_int8(model)
    vision = [type(m) for m in qmodel.clip.visual.modules()]
    assert vision.count(DynamicLinear) == 5 * len(qmodel.clip.visual.transformer.resblocks)  # q, kv, out, fc, proj
    assert nn.MultiheadAttention not in vision
    assert not any(isinstance(m, DynamicLinear) for m in qmodel.clip.transformer.modules())  # text stays fp32
    assert not any(isinstance(m, DynamicLinear) for a in qmodel.adapters() for m in a.modules())
    assert not any(isinstance(m, DynamicLinear) for m in model.modules())  # the original is untouched
    with_adapters = perf.quantize_int8(model, adapters=True)
    assert any(isinstance(m, DynamicLinear) for a in with_adapters.adapters() for m in a.modules())


def test_int8_model_agrees_with_fp32():
    model = tiny_model()
    activate_tda(model)
    clips = random_video(16, 2)
    result = perf.int8_agreement(model, perf.quantize_int8(model), clips.split(8))
    # Measured on this model and these clips: top-1 agreement 1.0, max |prob diff| 0.011.
    assert result.clips == 16
    assert result.top1_agreement >= 0.9
    assert 0 < result.max_prob_diff < 0.05
    same = perf.int8_agreement(model, model, clips[:2])
    assert (same.top1_agreement, same.max_prob_diff) == (1.0, 0.0)

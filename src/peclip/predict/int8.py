"""int8 CPU inference: a dynamically quantised copy of the vision tower, and its agreement with fp32.

* :func:`quantize_int8`: an int8 dynamically quantised copy of the vision tower for CPU inference
  (``peclip predict --int8``);
* :func:`int8_agreement`: how far its predictions are from the fp32 model's.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from peclip.model import PEClip

log = logging.getLogger(__name__)



class QuantizableAttention(nn.Module):
    """Self- or cross-attention with the projections as plain ``nn.Linear`` layers, so that
    ``quantize_dynamic`` can quantise them.

    ``nn.MultiheadAttention`` keeps its input projection as a bare parameter and its output
    projection as ``NonDynamicallyQuantizableLinear``, so dynamic quantisation would leave a third
    of a ViT block's matrix work in fp32. This module computes the same function (batch-first
    inputs, no key padding, ``need_weights=False``) from a copy of an ``nn.MultiheadAttention``'s
    weights, and keeps its call signature so the block that owns it needs no change.
    """

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        if not mha.batch_first or not mha._qkv_same_embed_dim or mha.in_proj_bias is None:
            raise ValueError("QuantizableAttention copies a batch-first nn.MultiheadAttention with a packed, "
                             "biased input projection (as CLIP's); this one differs")
        d = mha.embed_dim
        self.embed_dim, self.num_heads = d, mha.num_heads
        self.batch_first = True
        self.q_proj = nn.Linear(d, d)
        self.kv_proj = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, d)
        with torch.no_grad():
            self.q_proj.weight.copy_(mha.in_proj_weight[:d])
            self.q_proj.bias.copy_(mha.in_proj_bias[:d])
            self.kv_proj.weight.copy_(mha.in_proj_weight[d:])
            self.kv_proj.bias.copy_(mha.in_proj_bias[d:])
            self.out_proj.weight.copy_(mha.out_proj.weight)
            self.out_proj.bias.copy_(mha.out_proj.bias)
        self.requires_grad_(False)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, None]:
        if need_weights or key_padding_mask is not None or attn_mask is not None or is_causal or key is not value:
            raise NotImplementedError("QuantizableAttention supports unmasked attention with key is value and "
                                      "need_weights=False (CLIP's vision tower); keep this tower in fp32")
        n, lq, d = query.shape
        lk, h = key.shape[1], self.num_heads
        q = self.q_proj(query).view(n, lq, h, d // h).transpose(1, 2)  # (N, H, Lq, d/H)
        k, v = self.kv_proj(key).view(n, lk, 2, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)  # 2 x (N, H, Lk, d/H)
        out = F.scaled_dot_product_attention(q, k, v)  # (N, H, Lq, d/H)
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, d)), None  # (N, Lq, D)


def quantize_int8(model: PEClip, attention: bool = True, adapters: bool = False) -> PEClip:
    """An int8 dynamically quantised copy of ``model`` for CPU inference (``model`` is left as it is).

    Only the vision tower is quantised: in evaluation the class-text features are computed once and
    cached, so the text tower's cost does not recur. Quantised (weights int8 per tensor, activations
    quantised on the fly): the frozen MLP layers and, with ``attention`` (default), the attention
    projections (see :class:`QuantizableAttention`); with ``adapters`` also the ShA/TDA linear layers
    and the TDA's GRU. Patch embedding, LayerNorms, prompts and the output projection stay fp32.
    The copy is in eval mode, on the CPU, and cannot be trained.

    Uses ``torch.ao.quantization.quantize_dynamic`` (deprecated by torch in favour of torchao, still
    present up to torch 2.14); its deprecation warnings are silenced here.
    """
    quantize_dynamic = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
    if quantize_dynamic is None:
        raise RuntimeError(f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic; int8 "
                           "inference needs torch <= 2.14 (or run the fp32 model)")
    qmodel = copy.deepcopy(model).cpu().eval()
    visual = qmodel.clip.visual
    if attention:
        for module in list(visual.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.MultiheadAttention):
                    setattr(module, child_name, QuantizableAttention(child))
    inside_adapter = {id(m) for a in qmodel.adapters() for m in a.modules()}
    quantizable = (nn.Linear, nn.GRU)
    unsupported = nn.modules.linear.NonDynamicallyQuantizableLinear  # nn.MultiheadAttention's out_proj
    targets = {f"clip.visual.{name}" for name, m in visual.named_modules()
               if isinstance(m, quantizable) and type(m) is not unsupported
               and (adapters or id(m) not in inside_adapter)}
    spec = {name: torch.ao.quantization.default_dynamic_qconfig for name in targets}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quint8.*deprecated.*")
        qmodel = quantize_dynamic(qmodel, spec, dtype=torch.qint8)
    log.info("int8: quantised %d layers of the vision tower (attention=%s, adapters=%s)", len(targets),
             attention, adapters)
    return qmodel


@dataclass(frozen=True)
class Agreement:
    """How closely a quantised model's predictions follow the fp32 model's over ``clips`` clips."""

    clips: int
    top1_agreement: float  # fraction of clips with the same predicted class
    max_prob_diff: float  # largest |p_fp32 - p_int8| over all clips and classes
    mean_prob_diff: float  # mean |p_fp32 - p_int8| over all clips and classes


def int8_agreement(model: PEClip, quantized: PEClip, clips: Iterable[torch.Tensor] | torch.Tensor) -> Agreement:
    """Compare the softmax probabilities of ``model`` and ``quantized`` on ``clips``.

    ``clips`` is a video tensor ``(N, T, 3, H, W)`` or an iterable of such batches. Both models run in
    eval mode without gradients, on the CPU.
    """
    batches = [clips] if isinstance(clips, torch.Tensor) else list(clips)
    if not batches:
        raise ValueError("int8_agreement needs at least one clip")
    was_training = model.training
    model.eval()
    quantized.eval()
    ref_probs, q_probs = [], []
    with torch.inference_mode():
        for batch in batches:
            ref_probs.append(model(batch.cpu()).float().softmax(dim=-1))  # (B, C)
            q_probs.append(quantized(batch.cpu()).float().softmax(dim=-1))  # (B, C)
    model.train(was_training)
    p, q = torch.cat(ref_probs), torch.cat(q_probs)  # (N, C)
    diff = (p - q).abs()
    return Agreement(clips=p.shape[0], top1_agreement=float((p.argmax(-1) == q.argmax(-1)).float().mean()),
                     max_prob_diff=float(diff.max()), mean_prob_diff=float(diff.mean()))

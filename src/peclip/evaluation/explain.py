"""Why a clip got its class: attention rollout, class-specific maps and the TDA's temporal saliency.

The map functions are pure functions over attention arrays, so they can be checked on toy inputs:

- :func:`attention_rollout` (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): per
  block, the heads are fused (mean / max / min), the weakest ``discard_ratio`` of the entries are
  dropped (never the class token's own), the residual identity is added and rows are renormalised;
  the blocks' matrices are multiplied (last block on the left). The class token's row, over the patch
  grid only, is the map. The MaPLe prompt tokens take part in attention but are removed from the map
  and the patch part renormalised to sum to one.
- :func:`gradient_rollout`: the same product with each block's heads fused as
  ``mean_h ReLU(dA_c/dA * A)`` (Chefer et al. 2021, "Transformer Interpretability Beyond Attention
  Visualization"), so it follows the attention that raised class ``c``'s logit.
- :func:`grad_cam` (Selvaraju et al. 2017) on the last block's normalised input patch tokens: channel
  weights are the gradients averaged over the grid, the map is ``ReLU(sum_d w_d A_d)``.

Every map sums to one; a row with no mass at all on the patches (e.g. attention that is the identity,
or no positive evidence) gives the uniform map, the map of "no patch preferred".

:func:`explain_clip` runs a :class:`~peclip.model.PEClip` on one clip with the attention recorded
(:func:`peclip.backbone.record_vision_attention`) and the TDA's dynamic scale ``s`` hooked
(:func:`record_tda_scales`), and returns all maps as arrays in a :class:`ClipExplanation`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from peclip import backbone
from peclip.adapters import TemporalDynamicAdapter
from peclip.evaluation.options import CLASS_MAP_METHODS, HEAD_FUSIONS
from peclip.model import PEClip

# ------------------------------------------------------------------------------------- pure maps

def fuse_heads(attention: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """``(N, heads, L, L) -> (N, L, L)``: the heads' mean, max or min."""
    if how not in HEAD_FUSIONS:
        raise ValueError(f"head fusion {how!r} is not valid; choose one of {', '.join(HEAD_FUSIONS)}")
    if how == "mean":
        return attention.mean(dim=1)
    return attention.amax(dim=1) if how == "max" else attention.amin(dim=1)


def _check_discard(discard_ratio: float) -> None:
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio={discard_ratio!r} must lie in [0, 1): the share of the weakest attention "
                         "entries dropped per block (0.9 keeps the strongest 10 %)")


def _discard(fused: torch.Tensor, ratio: float) -> torch.Tensor:
    # fused: (N, L, L); zero the weakest `ratio` of each frame's L*L entries, never entry (0, 0), the class
    # token's attention to itself (it is not a candidate, so exactly int(L*L*ratio) others are dropped)
    if ratio <= 0:
        return fused
    n, length, _ = fused.shape
    flat = fused.reshape(n, length * length).clone()  # (N, L*L)
    k = min(int(flat.shape[1] * ratio), flat.shape[1] - 1)
    if k == 0:
        return fused
    candidates = flat.clone()
    candidates[:, 0] = float("inf")
    lowest = candidates.topk(k, dim=1, largest=False).indices  # (N, k)
    flat.scatter_(1, lowest, 0.0)
    return flat.view(n, length, length)


def rollout_product(fused: Sequence[torch.Tensor], discard_ratio: float = 0.0) -> torch.Tensor:
    """``prod_k normalise(discard(A_k) + I)`` over blocks (block 0 first, so the last is on the left).

    ``fused``: one ``(N, L, L)`` head-fused matrix per block. Returns ``(N, L, L)``.
    """
    _check_discard(discard_ratio)
    if not fused:
        raise ValueError("rollout needs the attention of at least one block")
    n, length, _ = fused[0].shape
    eye = torch.eye(length, dtype=fused[0].dtype, device=fused[0].device)
    result = eye.expand(n, length, length)
    for a in fused:
        a = _discard(a, discard_ratio) + eye  # residual connection (Abnar & Zuidema 2020, eq. 1)
        a = a / a.sum(dim=-1, keepdim=True)  # rows sum to one again
        result = a @ result  # (N, L, L)
    return result


def class_token_map(matrix: torch.Tensor, grid: tuple[int, int], num_prompt_tokens: int) -> torch.Tensor:
    """The class token's row of ``matrix`` ``(N, L, L)`` over the patches, as ``(N, rows, cols)`` summing to one.

    Token order is open_clip's plus MaPLe's: ``[class, rows*cols patches, num_prompt_tokens prompts]``.
    The prompt columns are dropped and the patch part renormalised; a row without patch mass is uniform.
    """
    rows, cols = grid
    length = matrix.shape[-1]
    if length != 1 + rows * cols + num_prompt_tokens:
        raise ValueError(f"attention over {length} tokens does not fit 1 class token + {rows}x{cols} patches + "
                         f"{num_prompt_tokens} prompt tokens")
    patches = matrix[:, 0, 1:1 + rows * cols].clamp(min=0)  # (N, rows*cols), prompts left out
    return _to_distribution(patches).view(-1, rows, cols)


def _to_distribution(values: torch.Tensor) -> torch.Tensor:
    # values: (N, P) >= 0 -> rows summing to one; an all-zero row becomes uniform
    total = values.sum(dim=1, keepdim=True)
    uniform = torch.full_like(values, 1.0 / values.shape[1])
    return torch.where(total > 0, values / total.clamp(min=torch.finfo(values.dtype).tiny), uniform)


def attention_rollout(attentions: Sequence[torch.Tensor], grid: tuple[int, int], num_prompt_tokens: int = 0,
                      head_fusion: str = "mean", discard_ratio: float = 0.0) -> torch.Tensor:
    """Attention rollout maps ``(N, rows, cols)`` from one ``(N, heads, L, L)`` array per block (module docstring)."""
    fused = [fuse_heads(torch.as_tensor(a), head_fusion) for a in attentions]
    return class_token_map(rollout_product(fused, discard_ratio), grid, num_prompt_tokens)


def gradient_rollout(attentions: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor], grid: tuple[int, int],
                     num_prompt_tokens: int = 0, discard_ratio: float = 0.0) -> torch.Tensor:
    """Class-specific rollout ``(N, rows, cols)``: heads fused as ``mean_h ReLU(grad * A)`` (Chefer et al. 2021)."""
    if len(attentions) != len(gradients):
        raise ValueError(f"{len(attentions)} attention arrays but {len(gradients)} gradients")
    fused = [(torch.as_tensor(g) * torch.as_tensor(a)).clamp(min=0).mean(dim=1)
             for a, g in zip(attentions, gradients, strict=True)]
    return class_token_map(rollout_product(fused, discard_ratio), grid, num_prompt_tokens)


def grad_cam(tokens: torch.Tensor, gradients: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Grad-CAM ``(N, rows, cols)`` on patch tokens ``(N, L, D)`` (class token first) and their gradients.

    Per frame, each channel's weight is its gradient averaged over the grid; the map is
    ``ReLU(sum_d w_d A_d)`` over the patches (Selvaraju et al. 2017), normalised to sum to one.
    """
    rows, cols = grid
    acts = torch.as_tensor(tokens)[:, 1:1 + rows * cols]  # (N, P, D)
    grads = torch.as_tensor(gradients)[:, 1:1 + rows * cols]  # (N, P, D)
    weights = grads.mean(dim=1, keepdim=True)  # (N, 1, D)
    cam = (acts * weights).sum(dim=-1).clamp(min=0)  # (N, P)
    return _to_distribution(cam).view(-1, rows, cols)


# --------------------------------------------------------------------------------- temporal saliency

def tda_blocks(model: PEClip) -> list[tuple[int, TemporalDynamicAdapter]]:
    """``(vision block index, TDA)`` for every vision block that has a Temporal Dynamic Adapter."""
    found = []
    for index, block in enumerate(backbone.vision_blocks(model.clip)):
        found.extend((index, m) for m in block.modules() if isinstance(m, TemporalDynamicAdapter))
    return found


@contextmanager
def record_tda_scales(model: PEClip) -> Iterator[dict[int, list[torch.Tensor]]]:
    """While active, record each TDA's dynamic scale ``s = ReLU(W_s LN(h) + b_s)`` ``(N, L, 1)`` per vision block.

    A forward hook on the TDA's ``scale_act`` reads ``s`` as the TDA itself computes it (docs/spec.md 2.4).
    Yields ``{block index: [s of each forward pass]}`` (detached).
    """
    scales: dict[int, list[torch.Tensor]] = {}
    handles = []
    for index, tda in tda_blocks(model):
        scales[index] = []

        def hook(_module, _inputs, output, store=scales[index]):
            store.append(output.detach())

        handles.append(tda.scale_act.register_forward_hook(hook))
    try:
        yield scales
    finally:
        for handle in handles:
            handle.remove()


# ------------------------------------------------------------------------------------ a model clip

@dataclass
class ClipExplanation:
    """Everything :func:`explain_clip` found for one clip of ``T`` frames; arrays are numpy.

    - ``rollout``, ``class_map``: ``(T, rows, cols)``, each frame's map sums to one;
    - ``tda_scale``: ``(blocks, T)`` the class token's TDA scale ``s`` per vision block with a TDA and
      frame (``tda_blocks`` names the blocks), None for a model without TDA;
    - ``frame_similarity``: ``(T,)`` cosine of each frame embedding with the explained class's text.
    """

    class_names: list[str]
    probabilities: np.ndarray  # (C,)
    class_index: int
    rollout: np.ndarray
    class_map: np.ndarray
    tda_scale: np.ndarray | None
    tda_blocks: list[int]
    frame_similarity: np.ndarray
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the explanation

    @property
    def class_name(self) -> str:
        return self.class_names[self.class_index]

    @property
    def probability(self) -> float:
        return float(self.probabilities[self.class_index])

    @property
    def predicted(self) -> str:
        return self.class_names[int(np.argmax(self.probabilities))]

    def to_dict(self, decimals: int = 5) -> dict:
        def arr(a):
            return None if a is None else np.round(np.asarray(a, dtype=np.float64), decimals).tolist()

        return {"class": self.class_name, "class_index": self.class_index, "probability": round(self.probability, 6),
                "predicted": self.predicted,
                "probabilities": dict(zip(self.class_names, np.round(self.probabilities, 6).tolist(), strict=True)),
                "rollout": arr(self.rollout), "class_map": arr(self.class_map), "tda_blocks": self.tda_blocks,
                "tda_scale": arr(self.tda_scale), "frame_similarity": arr(self.frame_similarity),
                "settings": self.settings, "seconds": round(self.seconds, 4)}


def require_explainable(model) -> None:
    """Refuse, naming what explain can run on, a model none of its methods applies to.

    Every map here reads PE-CLIP's vision tower inside torch: attention rollout needs its attention
    arrays, ``grad-rollout`` and ``gradcam`` also their gradients. An exported ONNX graph gives logits
    only (no attention, no gradients), and a light model has no PE-CLIP tower to read (explain has no
    black-box method, such as occlusion, that would need only logits)."""
    if isinstance(model, PEClip):
        return
    methods = f"attention rollout with --method {' or '.join(CLASS_MAP_METHODS)}"
    if getattr(model, "engine", "torch") == "onnx":
        raise ValueError(f"explain cannot run on an exported ONNX model ({model.checkpoint}): its methods "
                         f"({methods}) read the attention and gradients of PE-CLIP's vision tower in torch, and the "
                         "graph gives logits only. Explain a PE-CLIP checkpoint or --model with --engine torch; "
                         "for the exported model's scores use `peclip predict --engine onnx`")
    raise ValueError(f"explain cannot run on {model.config.name}: its methods ({methods}) read the attention of "
                     "PE-CLIP's ViT vision tower, which a light model does not have. Explain a PE-CLIP checkpoint "
                     "or --model (e.g. clip-vit-b16); for the light model's scores use `peclip predict`")


def resolve_class(model: PEClip, class_name: str | None) -> int | None:
    """The index of ``class_name`` among the model's classes (None stays None: the top class)."""
    if class_name is None:
        return None
    if class_name not in model.class_names:
        raise ValueError(f"class {class_name!r} is not one of this model's classes: {', '.join(model.class_names)}")
    return model.class_names.index(class_name)


@contextmanager
def _full_last_block(model: PEClip):
    # rollout needs every token's row of the last block, and the recording seam sees no recomputation
    saved = model.cls_only_last_block, model.grad_checkpointing
    model.cls_only_last_block, model.grad_checkpointing = False, False
    try:
        yield
    finally:
        model.cls_only_last_block, model.grad_checkpointing = saved


def explain_clip(model: PEClip, video: torch.Tensor, class_index: int | None = None, head_fusion: str = "mean",
                 discard_ratio: float = 0.0, method: str = "grad-rollout") -> ClipExplanation:
    """Explain one clip ``(T, 3, H, W)`` (or ``(1, T, 3, H, W)``) in [0, 1]: maps per frame (module docstring).

    ``class_index`` picks the class of the class-specific map and of the frame similarity (default:
    the top class). ``method`` is ``grad-rollout`` or ``gradcam``. The logits are those of
    ``model(video)``; the last vision block runs in full here (``cls_only_last_block`` is switched off
    for the call), which changes no output.
    """
    require_explainable(model)
    if method not in CLASS_MAP_METHODS:
        raise ValueError(f"class-map method {method!r} is not valid; choose one of {', '.join(CLASS_MAP_METHODS)}")
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head fusion {head_fusion!r} is not valid; choose one of {', '.join(HEAD_FUSIONS)}")
    _check_discard(discard_ratio)
    if video.dim() == 4:
        video = video.unsqueeze(0)  # (1, T, 3, H, W)
    if video.dim() != 5 or video.shape[0] != 1:
        raise ValueError(f"explain_clip takes one clip (T, 3, H, W), got shape {tuple(video.shape)}")
    start = time.perf_counter()
    model.eval()
    device = next(model.parameters()).device
    video = video.detach().to(device=device, dtype=torch.float32).clone().requires_grad_(True)
    num_frames = video.shape[1]
    grid = backbone.patch_grid(model.clip)
    num_prompts = model.config.prompts.length if model.prompts is not None else 0
    with _full_last_block(model), torch.enable_grad(), \
            backbone.record_vision_attention(model.clip) as records, record_tda_scales(model) as scales:
        text_prompts, vision_prompts = model.prompt_tokens()
        pooled, frames = model.encode_video(video, vision_prompts, return_frames=True)  # (1, E), (1, T, E)
        classes = model.encode_classes(text_prompts).detach().to(pooled.dtype)  # (C, E)
        logits = model.config.logit_scale * pooled @ classes.T  # (1, C), as PEClip.forward
        index = int(logits[0].argmax()) if class_index is None else int(class_index)
        if not 0 <= index < logits.shape[1]:
            raise ValueError(f"class index {index} is out of range for {logits.shape[1]} classes")
        # autograd.grad, not backward: no .grad is left on the model's parameters
        wanted = [r.probs for r in records] + [records[-1].tokens]
        grads = torch.autograd.grad(logits[0, index], wanted, allow_unused=True)
    if len(records) != model.sizes.vision_layers:
        raise RuntimeError(f"recorded {len(records)} vision blocks, expected {model.sizes.vision_layers}")
    attentions = [r.probs.detach() for r in records]  # blocks x (T, heads, L, L)
    attn_grads = [torch.zeros_like(a) if g is None else g for a, g in zip(attentions, grads[:-1], strict=True)]
    rollout = attention_rollout(attentions, grid, num_prompts, head_fusion, discard_ratio)  # (T, rows, cols)
    if method == "grad-rollout":
        class_map = gradient_rollout(attentions, attn_grads, grid, num_prompts, discard_ratio)
    else:
        token_grad = grads[-1] if grads[-1] is not None else torch.zeros_like(records[-1].tokens)
        class_map = grad_cam(records[-1].tokens.detach(), token_grad, grid)
    blocks = sorted(scales)
    tda_scale = None
    if blocks:
        # s: (T, L, 1) per block and forward; the class token is token 0
        tda_scale = torch.stack([scales[b][-1][:, 0, 0] for b in blocks]).float().cpu().numpy()  # (blocks, T)
    sims = F.normalize(frames[0].detach().float(), dim=-1) @ classes[index].float()  # (T,)
    probabilities = logits.detach().float().softmax(dim=-1)[0].cpu().numpy()
    settings = {"head_fusion": head_fusion, "discard_ratio": discard_ratio, "method": method, "grid": list(grid),
                "num_prompt_tokens": num_prompts, "num_frames": num_frames}
    return ClipExplanation(list(model.class_names), probabilities.astype(np.float64), index,
                           rollout.float().cpu().numpy(), class_map.float().cpu().numpy(), tda_scale, blocks,
                           sims.cpu().numpy(), settings, time.perf_counter() - start)

"""PE-CLIP's adapters: the bottleneck adapter (ShA / TA) and the Temporal Dynamic Adapter (TDA); and,
outside PE-CLIP, S4D's mixture of adapter experts (MoAE) and per-domain heads (docs/stills.md).

ShA, TA and TDA fill open_clip's LayerScale seams (``ls_1`` after attention, ``ls_2`` after the MLP)
through :class:`AdapterSlot`, which keeps the original module and feeds its output to the adapter, so
the block computes ``x + adapter(ls(sublayer(ln(x))))`` exactly as docs/spec.md 2.4 writes it. The
MoAE fills the ``mlp`` seam through :class:`ParallelSlot`, which runs it beside the original MLP on
the same input: ``x + ls_2(MLP(LN(x)) + MoE(LN(x)))``.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn


class PEClipAdapter(nn.Module):
    """Base class of every trainable adapter; freezing and optimizer groups find adapters by this type."""


class BottleneckAdapter(PEClipAdapter):
    """ShA / TA: ``x + up(GELU(down(x)))`` with D -> D/r -> D (docs/spec.md 2.4, class ``Adapter``).

    Default ``nn.Linear`` initialisation, as in the official code, so it is *not* the identity at start
    (docs/spec.md 10 A8).

    ``scale`` multiplies the adapter's branch, ``x + s * up(GELU(down(x)))`` (``adapters.scale``; FineCLIPER
    found s = 0.5 best, docs/text-supervision.md). At 1.0, PE-CLIP's value, the branch is added as is.
    """

    def __init__(self, width: int, reduction: int = 8, scale: float = 1.0):
        super().__init__()
        self.branch_scale = float(scale)
        bottleneck = width // reduction
        if bottleneck < 1:
            raise ValueError(f"adapter reduction {reduction} leaves no bottleneck for width {width}")
        self.down_proj = nn.Linear(width, bottleneck)
        self.act = nn.GELU()
        self.up_proj = nn.Linear(bottleneck, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.up_proj(self.act(self.down_proj(x)))
        return x + branch if self.branch_scale == 1.0 else x + self.branch_scale * branch


class FrameContext:
    """How many frames each video has in the current vision forward; shared by all TDAs of a model.

    The TDA only sees ``(B*T, L, D)`` tokens, so the model announces T (and B*T) here before running
    the tower. It stays set after the forward, because activation checkpointing reruns the TDA
    during the backward pass.

    ``skip_temporal`` is set for stills that pass the model as single frames (``temporal.stills:
    skip``): every TDA is then the identity for that forward (and its recomputation in backward).
    """

    def __init__(self) -> None:
        self.num_frames: int | None = None
        self.total_frames: int | None = None
        self.skip_temporal = False

    def announce(self, num_frames: int, total_frames: int, skip_temporal: bool = False) -> None:
        self.num_frames, self.total_frames, self.skip_temporal = num_frames, total_frames, skip_temporal


_RNNS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class TemporalDynamicAdapter(PEClipAdapter):
    """TDA (docs/spec.md 2.4, class ``TemporalAdapter``)::

        h_hat = LN(h);  s = ReLU(h_hat W_s + b_s)  (one scalar per token and frame)
        g = GRU(h_hat W_d + b_d)  along time;  TDA(h) = h + s * (GELU(g) W_u + b_u)

    ``up_proj`` starts at zero, so the TDA starts as the identity.

    ``per_video=True`` runs the recurrence over the T frames of each video separately, for every
    token position (docs/spec.md 10 A1). ``per_video=False`` reproduces the official code: the recurrence
    runs over the whole flattened batch*frames axis, so a clip's features depend on the clips before
    it in the batch.
    """

    def __init__(self, width: int, context: FrameContext, reduction: int = 8, rnn: str = "gru",
                 scale: str = "relu", per_video: bool = True):
        super().__init__()
        hidden = width // reduction
        if hidden < 1:
            raise ValueError(f"TDA reduction {reduction} leaves no bottleneck for width {width}")
        self.context = context
        self.per_video = per_video
        self.layer_norm = nn.LayerNorm(width)
        self.scale = nn.Linear(width, 1)
        self.scale_act = nn.ReLU() if scale == "relu" else nn.Sigmoid()
        self.down_proj = nn.Linear(width, hidden)
        self.rnn = _RNNS[rnn](hidden, hidden, batch_first=True)
        self.act = nn.GELU()
        self.up_proj = nn.Linear(hidden, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # docs/spec.md 2.4: kaiming-uniform weights, zero biases; zero up-projection (identity at start).
        for linear in (self.down_proj, self.scale):
            nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5))
            nn.init.zeros_(linear.bias)
        nn.init.zeros_(self.up_proj.weight)
        nn.init.zeros_(self.up_proj.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # h: (N=B*T, L, D), batch-first tokens of every frame
        if self.context.skip_temporal:
            return h  # a still passing as one frame: the residual branch is skipped (docs/stills.md)
        h_hat = self.layer_norm(h)
        s = self.scale_act(self.scale(h_hat))  # (N, L, 1)
        z = self.down_proj(h_hat)  # (N, L, d)
        g = self._recur(z)  # (N, L, d)
        return h + s * self.up_proj(self.act(g))

    def _recur(self, z: torch.Tensor) -> torch.Tensor:
        n, tokens, d = z.shape
        if not self.per_video:
            # Official code: each token position is a sequence over all N = B*T frames of the batch.
            seq = z.transpose(0, 1)  # (L, N, d)
            return self.rnn(seq)[0].transpose(0, 1)  # (N, L, d)
        t = self.context.num_frames
        if t is None or n != self.context.total_frames:
            raise RuntimeError(
                f"TDA got {n} frames but the model announced {self.context.total_frames} ({t} per video); "
                "call PEClip.encode_video (not the open_clip tower directly) so T is known"
            )
        b = n // t
        seq = z.view(b, t, tokens, d).permute(0, 2, 1, 3).reshape(b * tokens, t, d)  # (B*L, T, d)
        out = self.rnn(seq)[0]  # (B*L, T, d), h0 = 0 for every (video, token)
        return out.view(b, tokens, t, d).permute(0, 2, 1, 3).reshape(n, tokens, d)  # (B*T, L, d)


class AdapterSlot(nn.Module):
    """Fills an open_clip ``ls_1`` / ``ls_2`` seam: ``adapter(original(x))``, original kept as is."""

    def __init__(self, original: nn.Module, adapter: PEClipAdapter):
        super().__init__()
        self.original = original
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.original(x))


class TextBank:
    """Which bank of text adapters runs: ``positive`` (the class texts, captions) or ``negative``
    (FineCLIPER's negative class texts, docs/text-supervision.md). Shared by the model and all its
    :class:`BankedAdapterSlot` s; the model switches it with :meth:`use` around one text-tower pass.
    """

    BANKS = ("positive", "negative")

    def __init__(self) -> None:
        self.active = "positive"

    @contextlib.contextmanager
    def use(self, bank: str):
        if bank not in self.BANKS:
            raise ValueError(f"unknown text adapter bank {bank!r}; valid: {', '.join(self.BANKS)}")
        before, self.active = self.active, bank
        try:
            yield
        finally:
            self.active = before


class BankedAdapterSlot(AdapterSlot):
    """An :class:`AdapterSlot` with a second adapter for the negative texts: ``adapter`` (positive bank,
    the same name as in a plain slot, so positive-only checkpoints keep their keys) or
    ``negative_adapter``, as ``bank.active`` says."""

    def __init__(self, original: nn.Module, adapter: PEClipAdapter, negative_adapter: PEClipAdapter,
                 bank: TextBank):
        super().__init__(original, adapter)
        self.negative_adapter = negative_adapter
        self.bank = bank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adapter = self.negative_adapter if self.bank.active == "negative" else self.adapter
        return adapter(self.original(x))


class ParallelSlot(nn.Module):
    """Fills a sub-layer seam (open_clip's ``mlp``) with ``original(x) + adapter(x)``: the adapter runs
    beside the original on the same input (S4D's ``x + MLP(LN(x)) + MoE(LN(x))``)."""

    def __init__(self, original: nn.Module, adapter: PEClipAdapter):
        super().__init__()
        self.original = original
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.original(x) + self.adapter(x)


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation ``var(x) / mean(x)^2`` (unbiased variance; 0 for one value),
    the balance measure of Shazeer et al. 2017 (arXiv 1701.06538, section 4)."""
    if x.numel() < 2:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + 1e-10)


class MixtureOfAdapterExperts(PEClipAdapter):
    """S4D's MoAE (arXiv 2409.06154): ``experts`` bottleneck experts ``D -> D/reduction -> D`` (GELU), a
    noisy top-``k`` router per token, and the router's load-balancing loss (not part of PE-CLIP).

    Router (Shazeer et al. 2017, arXiv 1701.06538, eq. 3-5): ``H(x) = x W_g + eps * softplus(x W_noise)``
    with ``eps ~ N(0, 1)`` while training with ``noisy`` (``H(x) = x W_g`` otherwise); the ``k`` largest
    of ``H(x)`` are softmaxed into the gates, the others are 0. Output ``sum_e gate_e(x) * expert_e(x)``;
    each expert only runs on the tokens routed to it.

    Load-balancing loss (ibid., section 4 and appendix A): ``cv^2(importance) + cv^2(load)`` with
    ``importance_e = sum_x gate_e(x)`` and ``load_e`` the expected number of tokens routed to ``e``: with
    noise, ``sum_x Phi((x W_g - threshold_e(x)) / softplus(x W_noise))`` where ``threshold_e(x)`` is the
    k-th largest of the other experts' noisy logits (a smooth estimate that gradients can flow
    through); without noise, the count of tokens routed to ``e``. The last value is kept in
    :attr:`aux_loss` (``None`` until a forward ran); the model weights and sums them.

    Router weights start at zero (as Shazeer's), and so do the experts' up-projections: the mixture
    adds exactly nothing at the start, so a model with it starts as the model without it.
    """

    def __init__(self, width: int, experts: int = 8, top_k: int = 2, reduction: int = 4, noisy: bool = True):
        super().__init__()
        hidden = width // reduction
        if hidden < 1:
            raise ValueError(f"MoAE reduction {reduction} leaves no bottleneck for width {width}")
        if not 1 <= top_k <= experts:
            raise ValueError(f"MoAE top_k={top_k} must lie in 1..experts={experts}")
        self.num_experts, self.top_k, self.noisy = experts, top_k, noisy
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width)) for _ in range(experts))
        self.w_gate = nn.Parameter(torch.zeros(width, experts))
        self.w_noise = nn.Parameter(torch.zeros(width, experts))
        for expert in self.experts:
            nn.init.zeros_(expert[2].weight)
            nn.init.zeros_(expert[2].bias)
        self.aux_loss: torch.Tensor | None = None

    def route(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gates ``(M, E)`` and the balancing loss for tokens ``x`` ``(M, D)``.

        ``noise`` ``(M, E)`` replaces the standard-normal draw (tests); it is only used when noisy
        routing is on (training with ``noisy``). Returns ``gates``, ``importance``, ``load`` (both
        ``(E,)``) and ``loss``.
        """
        clean = x @ self.w_gate.to(x.dtype)  # (M, E)
        noisy = self.noisy and self.training
        if noisy:
            noise_std = F.softplus(x @ self.w_noise.to(x.dtype)) + 1e-2  # (M, E)
            eps = torch.randn_like(clean) if noise is None else noise.to(clean.dtype)
            logits = clean + eps * noise_std
        else:
            logits = clean
        k, e = self.top_k, self.num_experts
        top_values, top_index = logits.topk(min(k + 1, e), dim=-1)  # (M, k+1), sorted descending
        gates_k = torch.softmax(top_values[:, :k], dim=-1)  # (M, k)
        gates = torch.zeros_like(logits).scatter(1, top_index[:, :k], gates_k)  # (M, E)
        chosen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, top_index[:, :k], True)  # (M, E)
        importance = gates.sum(0)  # (E,)
        if noisy and k < e:
            # An expert is in the top k iff its noisy logit beats the k-th largest of the others:
            # for a chosen expert that is the (k+1)-th largest overall, for the others the k-th.
            in_top = chosen
            threshold = torch.where(in_top, top_values[:, k:k + 1], top_values[:, k - 1:k])  # (M, E)
            normal = torch.distributions.Normal(clean.new_zeros(()), clean.new_ones(()))
            load = normal.cdf((clean - threshold) / noise_std).sum(0)  # (E,)
        else:
            load = chosen.sum(0).to(clean.dtype)  # (E,)
        return {"gates": gates, "importance": importance, "load": load,
                "loss": cv_squared(importance) + cv_squared(load)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape  # (N, L, D)
        tokens = x.reshape(-1, shape[-1])  # (M = N*L, D)
        routed = self.route(tokens)
        gates = routed["gates"]  # (M, E)
        self.aux_loss = routed["loss"]
        out = torch.zeros_like(tokens)  # (M, D)
        for e, expert in enumerate(self.experts):
            chosen = gates[:, e].nonzero(as_tuple=True)[0]  # (m_e,) tokens routed to expert e
            if chosen.numel():
                out = out.index_add(0, chosen, gates[chosen, e:e + 1].to(tokens.dtype) * expert(tokens[chosen]))
        return out.view(shape)  # (N, L, D)


class DomainHeads(PEClipAdapter):
    """Separate image and video heads (``heads: separate``; S4D chooses its head by the input's rank).

    Each head is a linear map of the L2-normalised embedding ``(B, E) -> (B, C)`` added to the shared
    class-text similarity before the temperature: ``logits = scale * (v @ text.T + head_domain(v))``,
    i.e. each domain's class embeddings are the class-text embeddings plus a learned offset. Both start
    at zero, so the model starts as the shared-classifier model, and the text tower keeps learning from
    both domains.
    """

    DOMAINS = ("image", "video")

    def __init__(self, embed_dim: int, num_classes: int):
        super().__init__()
        self.image = nn.Linear(embed_dim, num_classes)
        self.video = nn.Linear(embed_dim, num_classes)
        for head in (self.image, self.video):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, embedding: torch.Tensor, domain: str) -> torch.Tensor:
        if domain not in self.DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; valid: {', '.join(self.DOMAINS)}")
        head = self.image if domain == "image" else self.video
        return head(embedding.to(head.weight.dtype))  # (B, C)

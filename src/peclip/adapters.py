"""PE-CLIP's adapters: the bottleneck adapter (ShA / TA) and the Temporal Dynamic Adapter (TDA).

Both fill open_clip's LayerScale seams (``ls_1`` after attention, ``ls_2`` after the MLP) through
:class:`AdapterSlot`, which keeps the original module and feeds its output to the adapter, so the
block computes ``x + adapter(ls(sublayer(ln(x))))`` exactly as docs/spec.md 2.4 writes it.
"""

from __future__ import annotations

import contextlib
import math

import torch
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
    """

    def __init__(self) -> None:
        self.num_frames: int | None = None
        self.total_frames: int | None = None

    def announce(self, num_frames: int, total_frames: int) -> None:
        self.num_frames, self.total_frames = num_frames, total_frames


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

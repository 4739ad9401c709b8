"""MaPLe multi-modal deep prompts with V-L coupling (docs/spec.md 2.6; MaPLe ``MultiModalPromptLearner``).

The text prompts are the parameters; each visual prompt is a linear projection of the text prompt
of the same layer. Layer 0 uses the shallow prompt (``ctx``, coupled by ``coupling[0]``), layers
1..depth-1 each a deep prompt that *replaces* the prompt tokens of the previous layer.
"""

from __future__ import annotations

import torch
from torch import nn


class MultiModalPrompts(nn.Module):
    """Learnable text prompts ``[depth] x (n, D_text)`` and their couplings ``D_text -> D_vision``."""

    def __init__(self, length: int, depth: int, text_width: int, vision_width: int, init_std: float = 0.02):
        super().__init__()
        self.length = length
        self.depth = depth
        # Generic context shared by all classes, random N(0, 0.02) init (docs/spec.md 2.6; no "a photo of a").
        self.ctx = nn.Parameter(torch.randn(length, text_width) * init_std)
        self.deep_text = nn.ParameterList(
            [nn.Parameter(torch.randn(length, text_width) * init_std) for _ in range(depth - 1)]
        )
        # coupling[0] is MaPLe's shallow ``proj``; coupling[k] (k >= 1) the deep ``F_k``.
        self.coupling = nn.ModuleList([nn.Linear(text_width, vision_width) for _ in range(depth)])

    def forward(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer prompts: ``text[k]`` (n, D_text) and ``vision[k]`` (n, D_vision) for k < depth."""
        text = [self.ctx, *self.deep_text]
        vision = [proj(p) for proj, p in zip(self.coupling, text, strict=True)]
        return text, vision

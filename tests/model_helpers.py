"""Shared helpers for the model tests (plain functions, importable from any test module)."""

from __future__ import annotations

import torch

import peclip


def tiny_model(name: str = "test-peclip-vit-b16", seed: int = 0, **overrides) -> peclip.PEClip:
    torch.manual_seed(seed)
    return peclip.create_model(name, **overrides)


def activate_tda(model: peclip.PEClip, std: float = 0.2, seed: int = 1) -> None:
    """Give every TDA a non-zero up-projection (it starts as the identity) so time matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for adapter in model.adapters():
            if hasattr(adapter, "rnn"):
                adapter.up_proj.weight.copy_(torch.randn(adapter.up_proj.weight.shape, generator=gen) * std)
                # a dynamic scale ReLU(w.x + b) that is 0 for every token blocks every gradient of the branch
                # (whether it is depends on the random init); a positive bias keeps it active
                adapter.scale.bias.fill_(1.0)


def random_video(batch: int, frames: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))

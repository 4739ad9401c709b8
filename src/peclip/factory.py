"""``create_model``: named model or config -> PEClip, with optional CLIP weights."""

from __future__ import annotations

import torch

from peclip import backbone
from peclip.config import ModelConfig, merge_overrides
from peclip.model import PEClip
from peclip.registry import get_model_config


def resolve_config(name_or_config: str | dict | ModelConfig, **overrides) -> ModelConfig:
    """A validated ModelConfig from a model name, a dict or a config, with overrides applied.

    Overrides are nested dicts or dotted keys, e.g. ``temporal={"per_video": False}`` or
    ``**{"temporal.per_video": False}``.
    """
    if isinstance(name_or_config, ModelConfig):
        data = name_or_config.to_dict()
    elif isinstance(name_or_config, dict):
        data = name_or_config
    elif isinstance(name_or_config, str):
        data = get_model_config(name_or_config)
    else:
        raise TypeError(f"expected a model name, dict or ModelConfig, got {type(name_or_config).__name__}")
    return ModelConfig.from_dict(merge_overrides(data, overrides))


def create_model(name_or_config: str | dict | ModelConfig, pretrained: str | None = None, *,
                 clip_seed: int | None = None, **overrides) -> PEClip:
    """Build a PE-CLIP model.

    ``pretrained``: ``None`` (random CLIP weights), an open_clip tag such as ``"openai"`` (fetched by
    open_clip, needs network access), or a local file (OpenAI ``.pt``, open_clip state dict or
    ``.safetensors``). Prompts and adapters always start from their docs/spec.md initialisation.

    A random CLIP is built from a seed, ``clip_seed`` or one drawn from torch's global generator (so
    ``torch.manual_seed`` still makes the build reproducible), recorded as ``model.clip_seed``: the
    frozen CLIP is not saved in a checkpoint, so :func:`peclip.save` records the seed and
    :func:`peclip.load` rebuilds exactly the same weights from it.
    """
    config = resolve_config(name_or_config, **overrides)
    if pretrained:
        clip = backbone.build_clip(config.backbone)
        backbone.load_weights(clip, config.backbone, pretrained)
        seed = None
    else:
        seed = int(torch.randint(0, 2**31 - 1, (1,), device="cpu")) if clip_seed is None else int(clip_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clip = backbone.build_clip(config.backbone)
    model = PEClip(config, clip)
    model.pretrained = pretrained
    model.clip_seed = seed
    return model

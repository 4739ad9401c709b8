"""``create_model``: named model or config -> PEClip, with optional CLIP weights."""

from __future__ import annotations

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


def create_model(name_or_config: str | dict | ModelConfig, pretrained: str | None = None,
                 **overrides) -> PEClip:
    """Build a PE-CLIP model.

    ``pretrained``: ``None`` (random CLIP weights), an open_clip tag such as ``"openai"`` (fetched by
    open_clip, needs network access), or a local file (OpenAI ``.pt``, open_clip state dict or
    ``.safetensors``). Prompts and adapters always start from their docs/spec.md initialisation.
    """
    config = resolve_config(name_or_config, **overrides)
    clip = backbone.build_clip(config.backbone)
    if pretrained:
        backbone.load_weights(clip, config.backbone, pretrained)
    model = PEClip(config, clip)
    model.pretrained = pretrained
    return model

"""``create_model``: named model or config -> a model of its family, with optional pretrained weights.

Model families are data: each names its config class and its builder (:data:`FAMILIES`). A config
dict says its family in ``family`` (absent: ``peclip``, so every PE-CLIP config and checkpoint reads
as before). Every family's model has the same interface: ``forward(video (B, T, 3, H, W)) -> logits``,
``config`` (with ``name``, ``num_frames``, ``num_classes``), ``class_names``, ``class_texts`` (None
without a text tower), ``preprocess``, ``param_groups()``, ``checkpoint_tensors()`` (what a checkpoint
keeps), ``random_weights``, ``pretrained``, ``checkpoint`` and ``runtime``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from peclip import backbone
from peclip.config import LightConfig, ModelConfig, merge_overrides
from peclip.light import ShuffViTDFER, load_imagenet_weights
from peclip.model import PEClip
from peclip.registry import get_model_config


def _build_peclip(config: ModelConfig, pretrained: str | None, clip_seed: int | None = None) -> PEClip:
    if pretrained:
        clip = backbone.build_clip(config.backbone)
        backbone.load_weights(clip, config.backbone, pretrained)
    else:  # a random CLIP from its seed (only the CLIP: prompts and adapters draw from torch's generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(clip_seed)
            clip = backbone.build_clip(config.backbone)
    return PEClip(config, clip)


def _build_light(config: LightConfig, pretrained: str | None) -> ShuffViTDFER:
    model = ShuffViTDFER(config)
    if pretrained:
        load_imagenet_weights(model, pretrained)
    return model


@dataclass(frozen=True)
class Family:
    """A model family: its config dataclass and ``build(config, pretrained) -> model``."""

    config: type
    build: Callable[[object, str | None], nn.Module]
    pretrained_help: str
    #: the checkpoint holds every tensor (a fully trainable model): loading needs no pretrained weights
    whole_checkpoint: bool = False


FAMILIES: dict[str, Family] = {
    "peclip": Family(ModelConfig, _build_peclip,
                     "an open_clip tag such as 'openai' (needs network access) or a local CLIP weights file"),
    "light": Family(LightConfig, _build_light,
                    "a local folder holding the ShuffleNetV2 (torchvision) and EfficientViT (timm) ImageNet files",
                    whole_checkpoint=True),
}


def family_of(data: dict) -> Family:
    """The family a config dict belongs to (its ``family`` key; PE-CLIP when absent)."""
    name = data.get("family", "peclip")
    if name not in FAMILIES:
        raise ValueError(f"model family {name!r} is not known; families: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def resolve_config(name_or_config: str | dict | ModelConfig | LightConfig, **overrides):
    """A validated config (of the model's family) from a model name, a dict or a config, with overrides.

    Overrides are nested dicts or dotted keys, e.g. ``temporal={"per_video": False}`` or
    ``**{"temporal.per_video": False}``.
    """
    if isinstance(name_or_config, (ModelConfig, LightConfig)):
        data = name_or_config.to_dict()
    elif isinstance(name_or_config, dict):
        data = name_or_config
    elif isinstance(name_or_config, str):
        data = get_model_config(name_or_config)
    else:
        raise TypeError(f"expected a model name, dict or config, got {type(name_or_config).__name__}")
    data = merge_overrides(data, overrides)
    return family_of(data).config.from_dict(data)


def create_model(name_or_config: str | dict | ModelConfig | LightConfig, pretrained: str | None = None, *,
                 clip_seed: int | None = None, **overrides):
    """Build a model: PE-CLIP (:class:`~peclip.model.PEClip`) or a light model (:mod:`peclip.light`).

    ``pretrained`` for PE-CLIP: ``None`` (random CLIP weights), an open_clip tag such as ``"openai"``
    (fetched by open_clip, needs network access), or a local file (OpenAI ``.pt``, open_clip state dict
    or ``.safetensors``). Prompts and adapters always start from their docs/spec.md initialisation.
    For a light model: ``None`` (random trunks) or a local folder with the ImageNet files of both trunks.

    A random CLIP is built from a seed, ``clip_seed`` or one drawn from torch's global generator (so
    ``torch.manual_seed`` still makes the build reproducible), recorded as ``model.clip_seed``: the
    frozen CLIP is not saved in a checkpoint, so :func:`peclip.save` records the seed and
    :func:`peclip.load` rebuilds exactly the same weights from it.
    """
    config = resolve_config(name_or_config, **overrides)
    family = next(f for f in FAMILIES.values() if isinstance(config, f.config))
    seed = None
    if family.whole_checkpoint or pretrained:
        model = family.build(config, pretrained)
    else:
        seed = int(torch.randint(0, 2**31 - 1, (1,), device="cpu")) if clip_seed is None else int(clip_seed)
        model = family.build(config, pretrained, clip_seed=seed)
    model.pretrained = pretrained
    model.clip_seed = seed
    return model

"""peclip: PE-CLIP dynamic facial expression recognition (arXiv 2503.16945), faithful and fast.

Public API::

    model = peclip.create_model("peclip-vit-b16", pretrained="openai")
    logits = model(video)                        # video (B, T, 3, 224, 224) in [0, 1] -> (B, 7)
    peclip.save(model, "my-model")               # config.json + trainable.safetensors
    model = peclip.load("my-model")              # a checkpoint or a training run folder
    result = peclip.predict_video(model, "clip.mp4")

The names below are imported on first use (PEP 562), so ``import peclip`` and ``peclip --help`` do not
load torch; the first call of a function loads what it needs.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("peclip")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

#: public name -> the module that defines it
_EXPORTS = {
    "AdapterConfig": "peclip.config", "BackboneConfig": "peclip.config", "ModelConfig": "peclip.config",
    "PromptConfig": "peclip.config", "RuntimeOptions": "peclip.config", "TemporalConfig": "peclip.config",
    "PEClip": "peclip.model", "create_model": "peclip.factory", "list_models": "peclip.registry",
    "load": "peclip.checkpoint", "save": "peclip.checkpoint",
    "predict_video": "peclip.predict.runner", "zero_shot_model": "peclip.predict.zeroshot",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'peclip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

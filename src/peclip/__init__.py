"""peclip: PE-CLIP dynamic facial expression recognition (arXiv 2503.16945), faithful and fast.

Public API::

    model = peclip.create_model("peclip-vit-b16", pretrained="openai")
    logits = model(video)             # video (B, T, 3, 224, 224) in [0, 1] -> (B, 7)
    peclip.save(model, "my-model")    # config.json + trainable.safetensors
    model = peclip.load("my-model")
"""

from peclip.checkpoint import load, save
from peclip.config import AdapterConfig, BackboneConfig, ModelConfig, PromptConfig, TemporalConfig
from peclip.factory import create_model
from peclip.model import PEClip
from peclip.registry import list_models

__version__ = "0.1.0"

_LAZY = {"predict_video": "peclip.predict", "zero_shot_model": "peclip.predict"}


def __getattr__(name: str):
    # Prediction pulls in video decoding and face detection; import it only when asked for.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'peclip' has no attribute {name!r}")

__all__ = [
    "AdapterConfig", "BackboneConfig", "ModelConfig", "PEClip", "PromptConfig", "TemporalConfig",
    "create_model", "list_models", "load", "predict_video", "save", "zero_shot_model", "__version__",
]

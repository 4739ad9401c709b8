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

__all__ = [
    "AdapterConfig", "BackboneConfig", "ModelConfig", "PEClip", "PromptConfig", "TemporalConfig",
    "create_model", "list_models", "load", "save", "__version__",
]

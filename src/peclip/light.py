"""Light, fully trainable models (family ``light``): ShuffViT-DFER (arXiv 2409.03438) and its temporal variant.

Per frame, two ImageNet-architecture trunks read the same face crop: torchvision's ShuffleNetV2 with
``fc`` replaced by the identity (1024-d for x1.0) and timm's EfficientViT-M2 (Microsoft's EfficientViT,
MSRA) with its classification head removed (224-d). Their features are concatenated (1248-d) and go
through the head ``Linear 512 - BatchNorm1d - ReLU - Dropout 0.5 - Linear 256 - BatchNorm1d - ReLU -
Dropout 0.5 - Linear C``: 5,989,861 parameters for 7 classes (docs/light.md).

Over the ``T`` frames of a clip (ours; the paper classifies single frames): ``temporal.kind = mean``
averages the per-frame logits (one frame: exactly the paper's model); ``gru`` runs a GRU over the
head's last hidden features and classifies its final state.

The model shares PEClip's interface (``forward(video (B, T, 3, H, W)) -> logits``, ``class_names``,
``preprocess``, ``param_groups``, ``checkpoint_tensors``), so the trainer, evaluation, predict and
checkpoints treat both alike. Every parameter is trainable, and the checkpoint keeps every parameter and
buffer (BatchNorm statistics included).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import timm
import torch
import torchvision
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from peclip.config import IMAGENET_MEAN, IMAGENET_STD, LightConfig, Preprocess, RuntimeOptions

log = logging.getLogger(__name__)

#: the file names a weights folder may hold for each trunk (torchvision's and timm/Hugging Face's layouts)
_WEIGHT_PATTERNS = {
    "shufflenet": ("shufflenet*.safetensors", "shufflenet*.pth", "shufflenet*.pt"),
    "efficientvit": ("efficientvit*.safetensors", "efficientvit*.pth", "efficientvit*.bin", "model.safetensors",
                     "pytorch_model.bin"),
}
#: the classification layers of the ImageNet checkpoints, which the light model replaces
_HEAD_PREFIXES = {"shufflenet": ("fc.",), "efficientvit": ("head.",)}


def build_shufflenet(config: LightConfig) -> nn.Module:
    """ShuffleNetV2 (torchvision) with ``fc`` = identity: ``(N, 3, S, S) -> (N, stages_out_channels[-1])``."""
    enc = config.encoder
    if enc.shufflenet_arch is not None:
        net = torchvision.models.ShuffleNetV2(**enc.shufflenet_arch)
    else:
        builder = getattr(torchvision.models, enc.shufflenet, None)
        if builder is None:
            raise ValueError(f"encoder.shufflenet={enc.shufflenet!r} is not a torchvision builder; use "
                             "shufflenet_v2_x0_5, shufflenet_v2_x1_0, shufflenet_v2_x1_5 or shufflenet_v2_x2_0")
        net = builder(weights=None)
    net.fc = nn.Identity()
    return net


def build_efficientvit(config: LightConfig) -> nn.Module:
    """EfficientViT (timm, MSRA) without its head: ``(N, 3, S, S) -> (N, embed_dim[-1])``."""
    enc = config.encoder
    kwargs = dict(enc.efficientvit_arch or {})
    kwargs.setdefault("img_size", config.image_size)
    # timm takes tuples for the per-stage settings; JSON gives lists
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return timm.create_model(enc.efficientvit, pretrained=False, num_classes=0, **kwargs)


def _head_layers(in_features: int, hidden: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        in_features = width
    return nn.Sequential(*layers)


class ShuffViTDFER(nn.Module):
    """ShuffViT-DFER over clips. Build it with :func:`peclip.create_model` (``shuffvit-dfer``, ``shuffvit-dfer-t``)."""

    def __init__(self, config: LightConfig):
        super().__init__()
        self.config = config
        self.pretrained: str | None = None  # the ImageNet weights folder, set by the factory; recorded in checkpoints
        self.runtime = RuntimeOptions()  # kept for the common interface; no switch applies to this model
        self.checkpoint: str | None = None  # set by peclip.load
        self.shufflenet = build_shufflenet(config)
        self.efficientvit = build_efficientvit(config)
        features = self._feature_width()
        self.head = _head_layers(features, config.head.hidden, config.head.dropout)
        last = config.head.hidden[-1]
        t = config.temporal
        self.gru = nn.GRU(last, t.hidden, batch_first=True) if t.kind == "gru" else None
        self.classifier = nn.Linear(t.hidden if self.gru is not None else last, config.num_classes)
        self.preprocess = Preprocess(config.image_size, config.num_frames, True, IMAGENET_MEAN, IMAGENET_STD)
        self.register_buffer("input_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.class_names = config.class_names
        self.class_texts: list[str] | None = None  # no text tower

    def _feature_width(self) -> int:
        """Width of the concatenated trunk features (1024 + 224 = 1248 for x1.0 + M2), read from the modules."""
        shuffle = self.shufflenet.conv5[0].out_channels
        return shuffle + int(self.efficientvit.num_features)

    # ----------------------------------------------------------------------------------- interface

    @property
    def architecture(self) -> str:
        enc = self.config.encoder
        return f"{enc.shufflenet} + {enc.efficientvit}, temporal {self.config.temporal.kind}"

    @property
    def frame_cache_supported(self) -> bool:
        """Predict's per-frame embedding cache is PEClip's; this model scores whole clips."""
        return False

    @property
    def may_skip_parameters(self) -> bool:
        """Every parameter takes part in every step (DDP need not look for unused ones)."""
        return False

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``trunks`` (both ImageNet trunks) and ``head`` (MLP, GRU, classifier); all trainable."""
        trunks = [*self.shufflenet.parameters(), *self.efficientvit.parameters()]
        head = [*self.head.parameters(), *(self.gru.parameters() if self.gru is not None else []),
                *self.classifier.parameters()]
        return {"trunks": trunks, "head": head}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for group in self.param_groups().values() for p in group]

    def named_trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return self.named_parameters()

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """Everything a checkpoint keeps: every parameter and persistent buffer (BatchNorm statistics)."""
        return dict(self.state_dict(keep_vars=True))

    def freeze_backbone(self) -> None:
        """Nothing is frozen in a light model: every parameter trains."""
        self.requires_grad_(True)

    @property
    def random_weights(self) -> bool:
        """True until a checkpoint is loaded: the head starts random even on ImageNet trunks."""
        return self.checkpoint is None

    def parameter_report(self) -> dict[str, int]:
        def count(module: nn.Module | None) -> int:
            return sum(p.numel() for p in module.parameters()) if module is not None else 0

        report = {"shufflenet trunk": count(self.shufflenet), "efficientvit trunk": count(self.efficientvit),
                  "head": count(self.head) + count(self.classifier)}
        if self.gru is not None:
            report["temporal GRU"] = count(self.gru)
        return report

    # ------------------------------------------------------------------------------------- forward

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` in [0, 1] -> concatenated trunk features ``(N, 1248)``."""
        x = (frames - self.input_mean.to(frames.dtype)) / self.input_std.to(frames.dtype)
        return torch.cat([self.shufflenet(x), self.efficientvit(x)], dim=1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` for clips ``(B, T, 3, S, S)`` (or images ``(B, 3, S, S)``) in [0, 1]."""
        video = self._check_video(video)
        b, t = video.shape[:2]
        frames = video.reshape(b * t, *video.shape[2:])  # (B*T, 3, S, S), video-major
        hidden = self.head(self.frame_features(frames))  # (B*T, H)
        if self.gru is None:
            return self.classifier(hidden).view(b, t, -1).mean(dim=1)  # (B*T, C) -> (B, T, C) -> (B, C)
        states, _ = self.gru(hidden.view(b, t, -1))  # (B, T, H) -> (B, T, G)
        return self.classifier(states[:, -1])  # (B, C)

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(video, torch.Tensor):
            raise TypeError(f"expected a video tensor (B, T, 3, H, W), got {type(video).__name__}")
        if video.dim() == 4:
            video = video.unsqueeze(1)  # (B, 1, 3, S, S): single images are one-frame clips
        size = self.config.image_size
        if video.dim() != 5 or video.shape[2] != 3 or tuple(video.shape[-2:]) != (size, size):
            raise ValueError(f"expected video of shape (B, T, 3, {size}, {size}) with values in [0, 1], got "
                             f"{tuple(video.shape)}; resize frames to {size}x{size} (peclip.data transforms do)")
        if not video.is_floating_point():
            raise ValueError(f"expected float frames in [0, 1], got dtype {video.dtype}; divide uint8 by 255")
        return video


# ------------------------------------------------------------------------------------ ImageNet weights

def _find_weights(folder: Path, trunk: str) -> Path:
    for pattern in _WEIGHT_PATTERNS[trunk]:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"no {trunk} weights in {folder}: expected one of {', '.join(_WEIGHT_PATTERNS[trunk])} "
                            "(torchvision's shufflenet_v2_x1-*.pth, timm's efficientvit_m2 model.safetensors)")


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)  # never runs code
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ValueError(f"cannot read weights {path} ({err}); give a torchvision .pth or a timm .safetensors "
                         "state dict") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict (got {type(state).__name__})")
    return state


def load_imagenet_weights(model: ShuffViTDFER, source: str | os.PathLike) -> dict[str, Path]:
    """Load both trunks from the ImageNet weights in folder ``source`` (torchvision / timm layouts).

    The folder holds torchvision's ShuffleNetV2 file (``shufflenet_v2_x1-*.pth``) and timm's
    EfficientViT file (``efficientvit_m2*.safetensors`` or the hub's ``model.safetensors``). Their
    classification layers (``fc.*``, ``head.*``) are dropped; every other key must match (strict).
    """
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"light-model weights {source!r} must be a folder holding the ShuffleNetV2 "
                                "(torchvision) and EfficientViT (timm) ImageNet files; no download happens here")
    used = {}
    for trunk, module in (("shufflenet", model.shufflenet), ("efficientvit", model.efficientvit)):
        path = _find_weights(folder, trunk)
        state = {k.removeprefix("module."): v for k, v in _read_state(path).items()}
        state = {k: v for k, v in state.items() if not k.startswith(_HEAD_PREFIXES[trunk])}
        own = module.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        wrong = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
        if missing or unexpected or wrong:
            raise ValueError(f"{path} does not fit the {trunk} trunk of {model.config.name}: missing "
                             f"{missing[:5]}, unexpected {unexpected[:5]}, other shapes {sorted(wrong)[:5]}; is it "
                             f"the {getattr(model.config.encoder, trunk)} ImageNet checkpoint?")
        module.load_state_dict(state, strict=True)
        used[trunk] = path
        log.info("%s trunk: ImageNet weights from %s", trunk, path)
    return used

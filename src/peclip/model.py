"""PEClip: a frozen open_clip CLIP with MaPLe prompts, ShA/TA adapters and the TDA (docs/spec.md 1-2).

``forward(video)`` returns logits ``(B, C) = logit_scale * cos(video embedding, class-text embedding)``.
The loss lives in the engine. Freezing is structural: the whole CLIP is frozen before the PE-CLIP
parts are added, and the trainable parameters are exactly those of the prompt learner and of the
:class:`~peclip.adapters.PEClipAdapter` modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from peclip import backbone
from peclip.adapters import (
    AdapterSlot,
    BottleneckAdapter,
    FrameContext,
    PEClipAdapter,
    TemporalDynamicAdapter,
)
from peclip.config import ModelConfig, Preprocess, RuntimeOptions
from peclip.prompts import MultiModalPrompts


class PEClip(nn.Module):
    """PE-CLIP for video facial expression recognition. Build it with :func:`peclip.create_model`."""

    def __init__(self, config: ModelConfig, clip: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.clip = clip if clip is not None else backbone.build_clip(config.backbone)
        self.clip.requires_grad_(False)  # frozen before any PE-CLIP part exists
        self.sizes = backbone.sizes(self.clip)
        self.pretrained: str | None = None  # set by the factory; recorded in checkpoints
        self.runtime = RuntimeOptions()  # how it runs (not what it computes); recorded in checkpoints
        self.checkpoint: str | None = None  # set by peclip.load: the checkpoint its trainable weights came from
        self.frame_context = FrameContext()
        self.prompts = self._build_prompts()
        self._fill_adapter_seams()
        mean, std = backbone.preprocess_stats(self.clip)
        self.preprocess = Preprocess(self.sizes.image_size, config.num_frames, config.normalize_input, mean, std)
        self.register_buffer("input_mean", torch.tensor(mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(std).view(1, 1, 3, 1, 1), persistent=False)
        self._text_cache: tuple[tuple, torch.Tensor] | None = None
        self.set_class_texts(config.texts(), config.class_names)

    # ------------------------------------------------------------------------- runtime shorthands
    # Each reads and writes ``self.runtime`` (the one home of these switches, see RuntimeOptions).

    @property
    def grad_checkpointing(self) -> bool:
        return self.runtime.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, value: bool) -> None:
        self.runtime = dataclasses.replace(self.runtime, grad_checkpointing=value)

    @property
    def cls_only_last_block(self) -> bool:
        return self.runtime.cls_only_last_block

    @cls_only_last_block.setter
    def cls_only_last_block(self, value: bool) -> None:
        self.runtime = dataclasses.replace(self.runtime, cls_only_last_block=value)

    @property
    def cache_class_texts(self) -> bool:
        return self.runtime.cache_class_texts

    @cache_class_texts.setter
    def cache_class_texts(self, value: bool) -> None:
        self.runtime = dataclasses.replace(self.runtime, cache_class_texts=value)

    @property
    def trim_text_padding(self) -> bool:
        return self.runtime.trim_text_padding

    @trim_text_padding.setter
    def trim_text_padding(self, value: bool) -> None:
        self.runtime = dataclasses.replace(self.runtime, trim_text_padding=value)

    # ------------------------------------------------------------------------------------- building

    def _build_prompts(self) -> MultiModalPrompts | None:
        p = self.config.prompts
        if not p.enabled:
            return None
        deepest = min(self.sizes.vision_layers, self.sizes.text_layers)
        if p.depth > deepest:
            raise ValueError(f"prompts.depth={p.depth} exceeds the backbone's {deepest} layers; use 1..{deepest}")
        return MultiModalPrompts(p.length, p.depth, self.sizes.text_width, self.sizes.vision_width, p.init_std)

    def _fill_adapter_seams(self) -> None:
        a, t, s = self.config.adapters, self.config.temporal, self.sizes

        def slot(adapter_factory):
            return lambda original: AdapterSlot(original, adapter_factory())

        for block in backbone.vision_blocks(self.clip):
            if a.shared:
                backbone.fill_seam(block, "ls_1", slot(lambda: BottleneckAdapter(s.vision_width, a.reduction)))
            if t.enabled:
                backbone.fill_seam(block, "ls_2", slot(lambda: TemporalDynamicAdapter(
                    s.vision_width, self.frame_context, t.reduction, t.rnn, t.scale, t.per_video)))
        for block in backbone.text_blocks(self.clip):
            if a.shared:
                backbone.fill_seam(block, "ls_1", slot(lambda: BottleneckAdapter(s.text_width, a.reduction)))
            if a.text_mlp:
                backbone.fill_seam(block, "ls_2", slot(lambda: BottleneckAdapter(s.text_width, a.reduction)))

    def set_class_texts(self, texts: list[str], class_names: list[str] | None = None) -> None:
        """Use ``texts`` (one per class) as the class descriptions; tokenised once, here."""
        names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(len(texts))]
        if len(names) != len(texts) or len(texts) < 2:
            raise ValueError(f"need one text per class and at least two classes (got {len(texts)} texts, "
                             f"{len(names)} names)")
        p = self.config.prompts
        prefix = " ".join([p.placeholder] * p.length) + " " if self.prompts is not None else ""
        full = [prefix + template.format(text) for template in self.config.text_templates for text in texts]
        tokens = backbone.tokenize(self.clip, full)  # (K*C, context_length)
        if self.prompts is not None:
            placeholder_id = backbone.tokenize(self.clip, [p.placeholder])[0, 1]
            if not bool((tokens[:, 1:1 + p.length] == placeholder_id).all()):
                raise ValueError(f"prompt placeholder {p.placeholder!r} must be a single token; choose another")
        self.class_names = names
        self.class_texts = list(texts)
        self.register_buffer("class_tokens", tokens, persistent=False)  # (K*C, context_length)
        self._text_length = backbone.trim_padding(tokens).shape[1]
        self._text_cache = None

    # ------------------------------------------------------------------------------------ trainable

    def adapters(self) -> list[PEClipAdapter]:
        return [m for m in self.modules() if isinstance(m, PEClipAdapter)]

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trainable parameters by optimizer group: ``adapters`` and ``prompts`` (docs/spec.md 3.1)."""
        adapters = [p for m in self.adapters() for p in m.parameters()]
        prompts = list(self.prompts.parameters()) if self.prompts is not None else []
        return {"adapters": adapters, "prompts": prompts}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for group in self.param_groups().values() for p in group]

    def named_trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        trainable = {id(p) for p in self.trainable_parameters()}
        return ((n, p) for n, p in self.named_parameters() if id(p) in trainable)

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps: the trainable parameters only (the CLIP comes from its weights)."""
        return dict(self.named_trainable_parameters())

    @property
    def architecture(self) -> str:
        return self.config.backbone.name

    @property
    def frame_cache_supported(self) -> bool:
        """Frames are encoded independently (no TDA), so predict may reuse a frame's embedding."""
        return not self.config.temporal.enabled

    def freeze_backbone(self) -> None:
        """Re-apply the structural freeze: only prompts and adapters require gradients."""
        self.requires_grad_(False)
        for p in self.trainable_parameters():
            p.requires_grad_(True)

    def train(self, mode: bool = True) -> PEClip:
        if mode:
            self._text_cache = None  # the text tower is about to change
        return super().train(mode)

    # -------------------------------------------------------------------------------------- forward

    def prompt_tokens(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (text, vision) prompt tokens, or two empty lists without prompts."""
        return self.prompts() if self.prompts is not None else ([], [])

    def encode_video(self, video: torch.Tensor, vision_prompts: list[torch.Tensor] | None = None,
                     return_frames: bool = False) -> torch.Tensor:
        """L2-normalised video embeddings ``(B, E)``: the mean of the per-frame CLS embeddings (docs/spec.md 2.8).

        ``video`` is ``(B, T, 3, H, W)`` (or ``(B, 3, H, W)``, one frame each) with values in [0, 1].
        With ``return_frames`` the per-frame embeddings ``(B, T, E)`` (not normalised) come back too.
        """
        video = self._check_video(video)
        if vision_prompts is None:
            vision_prompts = self.prompt_tokens()[1]
        if self.config.normalize_input:
            video = (video - self.input_mean.to(video.dtype)) / self.input_std.to(video.dtype)
        b, t = video.shape[:2]
        frames = video.reshape(b * t, *video.shape[2:])  # (B*T, 3, H, W), video-major
        self.frame_context.announce(t, b * t)
        feats = backbone.encode_images(self.clip, frames, vision_prompts, self.grad_checkpointing,
                                       self.cls_only_last_block)
        feats = feats.view(b, t, -1)  # (B, T, E)
        pooled = F.normalize(feats.mean(dim=1), dim=-1)  # (B, E)
        return (pooled, feats) if return_frames else pooled

    def encode_classes(self, text_prompts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """L2-normalised class-text embeddings ``(C, E)``.

        In eval mode the result is cached and reused until a trainable weight changes, the model
        goes back to training, or the class texts change.
        """
        key = self._cache_key()
        if self.cache_class_texts and self._text_cache is not None and self._text_cache[0] == key:
            return self._text_cache[1]
        if text_prompts is None:
            text_prompts = self.prompt_tokens()[0]
        feats = backbone.encode_texts(self.clip, self.text_tokens(), text_prompts, self.grad_checkpointing)
        feats = F.normalize(feats, dim=-1)  # (K*C, E)
        k = len(self.config.text_templates)
        if k > 1:  # prompt ensembling: mean of the normalised template embeddings
            feats = F.normalize(feats.view(k, -1, feats.shape[-1]).mean(dim=0), dim=-1)  # (C, E)
        if not self.training and self.cache_class_texts:
            self._text_cache = (key, feats)
        return feats

    def text_tokens(self) -> torch.Tensor:
        """The class tokens the text tower reads: up to the last EOT, or the whole context."""
        return self.class_tokens[:, : self._text_length] if self.trim_text_padding else self.class_tokens

    def _cache_key(self) -> tuple:
        if self.training or not self.cache_class_texts:
            return ("training",)  # never matches a stored eval key
        versions = tuple(p._version for p in self.trainable_parameters())
        autocast = torch.is_autocast_enabled(self.class_tokens.device.type)
        return (versions, self.class_tokens.device, autocast, torch.is_grad_enabled(), id(self.class_tokens),
                self.trim_text_padding)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` for a batch of clips ``(B, T, 3, H, W)`` in [0, 1]."""
        text_prompts, vision_prompts = self.prompt_tokens()  # computed once, shared by both towers
        videos = self.encode_video(video, vision_prompts)
        classes = self.encode_classes(text_prompts)
        return self.config.logit_scale * videos @ classes.to(videos.dtype).T

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(video, torch.Tensor):
            raise TypeError(f"expected a video tensor (B, T, 3, H, W), got {type(video).__name__}")
        if video.dim() == 4:
            video = video.unsqueeze(1)  # (B, 1, 3, H, W): single images are one-frame clips
        size = self.sizes.image_size
        if video.dim() != 5 or video.shape[2] != 3 or video.shape[-2:] != (size, size):
            raise ValueError(f"expected video of shape (B, T, 3, {size}, {size}) with values in [0, 1], got "
                             f"{tuple(video.shape)}; resize frames to {size}x{size} (peclip.data transforms do)")
        if not video.is_floating_point():
            raise ValueError(f"expected float frames in [0, 1], got dtype {video.dtype}; divide uint8 by 255")
        return video

    # ----------------------------------------------------------------------------------- reporting

    @property
    def random_weights(self) -> bool:
        """True when its outputs mean nothing: no checkpoint was loaded, and the CLIP is random or the
        prompts/adapters are at their initialisation (they mean something only after fine-tuning)."""
        return self.checkpoint is None and (self.pretrained is None or len(self.trainable_parameters()) > 0)

    def parameter_report(self) -> dict[str, int]:
        """Parameter counts per component, frozen and trainable."""
        trainable = {id(p) for p in self.trainable_parameters()}
        report: dict[str, int] = {}
        for name, p in self.named_parameters():
            report[_component(name, id(p) in trainable)] = report.get(_component(name, id(p) in trainable),
                                                                       0) + p.numel()
        return report


def _component(name: str, trainable: bool) -> str:
    vision = name.startswith("clip.visual.")
    if not trainable:
        return "frozen vision tower" if vision else "frozen text tower"
    if name.startswith("prompts.coupling"):
        return "prompts: V-L coupling"
    if name.startswith("prompts."):
        return "prompts: text context"
    if ".ls_1.adapter." in name:
        return "adapters: vision ShA" if vision else "adapters: text ShA"
    if ".ls_2.adapter." in name:
        return "adapters: vision TDA" if vision else "adapters: text TA"
    return "other trainable"

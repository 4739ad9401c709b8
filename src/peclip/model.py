"""PEClip: a frozen open_clip CLIP with MaPLe prompts, ShA/TA adapters and the TDA (docs/spec.md 1-2).

``forward(video)`` returns logits ``(B, C) = logit_scale * cos(video embedding, class-text embedding)``.
The loss lives in the engine; ``forward(video, captions, return_outputs=True)`` also gives it the
embeddings that caption training needs and, under ``text_kind: pn``, the logits its rule trains on
(docs/text-supervision.md). Freezing is structural: the whole CLIP is frozen before the PE-CLIP
parts are added, and the trainable parameters are exactly those of the prompt learner and of the
:class:`~peclip.adapters.PEClipAdapter` modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from peclip import backbone
from peclip.adapters import (
    AdapterSlot,
    BankedAdapterSlot,
    BottleneckAdapter,
    DomainHeads,
    FrameContext,
    MixtureOfAdapterExperts,
    ParallelSlot,
    PEClipAdapter,
    TemporalDynamicAdapter,
    TextBank,
)
from peclip.config import ModelConfig, Preprocess, RuntimeOptions
from peclip.prompts import MultiModalPrompts


class _RuntimeSwitch:
    """``model.<name>`` reads and writes the field of the same name of ``model.runtime``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, model, owner=None):
        return self if model is None else getattr(model.runtime, self.name)

    def __set__(self, model, value: bool) -> None:
        model.runtime = dataclasses.replace(model.runtime, **{self.name: value})


class ClassEmbeddings(NamedTuple):
    """L2-normalised class-text embeddings: ``positive`` ``(C, E)``; ``negative`` ``(C, E)`` under
    ``text_kind: pn``, else ``None``."""

    positive: torch.Tensor
    negative: torch.Tensor | None = None


class ModelOutputs(NamedTuple):
    """What ``forward(..., return_outputs=True)`` gives the engine.

    - ``logits`` ``(B, C)``: the class decision (what ``forward`` returns by default);
    - ``loss_logits``: what the classification loss is taken over, ``(B, C)``, or ``(B, 2C)`` under the
      PN ``softmax2c`` rule (columns ``0..C-1`` the positive texts, so targets are class indices as usual);
    - ``videos`` ``(B, E)``: L2-normalised video embeddings;
    - ``captions`` ``(B, E)``: L2-normalised caption embeddings when captions were given, else ``None``.
    """

    logits: torch.Tensor
    loss_logits: torch.Tensor
    videos: torch.Tensor
    captions: torch.Tensor | None


class PEClip(nn.Module):
    """PE-CLIP for video facial expression recognition. Build it with :func:`peclip.create_model`."""

    def __init__(self, config: ModelConfig, clip: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.clip = clip if clip is not None else backbone.build_clip(config.backbone)
        self.clip.requires_grad_(False)  # frozen before any PE-CLIP part exists
        self.sizes = backbone.sizes(self.clip)
        self.pretrained: str | None = None  # set by the factory; recorded in checkpoints
        self.clip_seed: int | None = None  # seed of a random CLIP (set by the factory); recorded in checkpoints
        self.runtime = RuntimeOptions()  # how it runs (not what it computes); recorded in checkpoints
        self.checkpoint: str | None = None  # set by peclip.load: the checkpoint its trainable weights came from
        self.frame_context = FrameContext()
        self.text_bank = TextBank()
        self.prompts = self._build_prompts()
        self._fill_adapter_seams()
        # PN "difference" rule: the learned weight w of the negative similarity (docs/text-supervision.md)
        self.pn_weight = (nn.Parameter(torch.tensor(float(config.pn.init_weight)))
                          if config.uses_pn and config.pn.rule == "difference" else None)
        self.moe_adapters = self._add_moe()
        # per-domain heads (heads: separate) beside the shared text classifier; None for PE-CLIP's one classifier
        self.domain_heads = (DomainHeads(self.sizes.embed_dim, config.num_classes)
                             if config.heads == "separate" else None)
        mean, std = backbone.preprocess_stats(self.clip)
        self.preprocess = Preprocess(self.sizes.image_size, config.num_frames, config.normalize_input, mean, std)
        self.register_buffer("input_mean", torch.tensor(mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(std).view(1, 1, 3, 1, 1), persistent=False)
        self._text_cache: tuple[tuple, ClassEmbeddings] | None = None
        self.set_class_texts(config.texts(), config.class_names)

    # Shorthands that read and write ``self.runtime`` (the one home of these switches, see RuntimeOptions).
    grad_checkpointing = _RuntimeSwitch()
    cls_only_last_block = _RuntimeSwitch()
    cache_class_texts = _RuntimeSwitch()
    trim_text_padding = _RuntimeSwitch()

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

        def text_slot(adapter_factory):
            # PN with separate banks: the negative texts get their own text adapters (prompts are shared)
            if not (self.config.uses_pn and not self.config.pn.share_adapters):
                return slot(adapter_factory)
            return lambda original: BankedAdapterSlot(original, adapter_factory(), adapter_factory(), self.text_bank)

        for block in backbone.vision_blocks(self.clip):
            if a.shared:
                backbone.fill_seam(block, "ls_1", slot(lambda: BottleneckAdapter(s.vision_width, a.reduction, a.scale)))
            if t.enabled:
                backbone.fill_seam(block, "ls_2", slot(lambda: TemporalDynamicAdapter(
                    s.vision_width, self.frame_context, t.reduction, t.rnn, t.scale, t.per_video)))
        for block in backbone.text_blocks(self.clip):
            if a.shared:
                backbone.fill_seam(block, "ls_1", text_slot(lambda: BottleneckAdapter(s.text_width, a.reduction,
                                                                                      a.scale)))
            if a.text_mlp:
                backbone.fill_seam(block, "ls_2", text_slot(lambda: BottleneckAdapter(s.text_width, a.reduction,
                                                                                      a.scale)))

    def _add_moe(self) -> list[MixtureOfAdapterExperts]:
        """S4D's MoAE beside the MLP of the last ``adapters.moe.last_blocks`` vision blocks (off by default)."""
        m = self.config.adapters.moe
        if not m.enabled:
            return []
        blocks = backbone.vision_blocks(self.clip)
        if m.last_blocks > len(blocks):
            raise ValueError(f"adapters.moe.last_blocks={m.last_blocks} exceeds the {len(blocks)} vision blocks; "
                             f"use 1..{len(blocks)}")
        added = []
        for block in list(blocks)[len(blocks) - m.last_blocks:]:
            moe = MixtureOfAdapterExperts(self.sizes.vision_width, m.experts, m.top_k, m.reduction, m.noisy)
            backbone.fill_seam(block, "mlp", lambda original, moe=moe: ParallelSlot(original, moe))
            added.append(moe)
        return added

    def auxiliary_loss(self) -> torch.Tensor | None:
        """The weighted load-balancing loss of the MoAE routers in the last forward (``None`` without
        MoAE): ``adapters.moe.loss_weight * sum over blocks``. The engine adds it to the training loss."""
        losses = [m.aux_loss for m in self.moe_adapters if m.aux_loss is not None]
        if not losses:
            return None
        return self.config.adapters.moe.loss_weight * torch.stack([loss.float() for loss in losses]).sum()

    def set_class_texts(self, texts: list[str], class_names: list[str] | None = None,
                        negative_texts: list[str] | None = None) -> None:
        """Use ``texts`` (one per class) as the class descriptions; tokenised once, here.

        Under ``text_kind: pn`` the negative texts are ``negative_texts`` or, when not given, the
        ``pn.negative`` template filled with each class name.
        """
        names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(len(texts))]
        if len(names) != len(texts) or len(texts) < 2:
            raise ValueError(f"need one text per class and at least two classes (got {len(texts)} texts, "
                             f"{len(names)} names)")
        heads = getattr(self, "domain_heads", None)
        if heads is not None and heads.image.out_features != len(texts):
            raise ValueError(f"this model has separate image/video heads for {heads.image.out_features} classes; "
                             f"it cannot take {len(texts)} class texts")
        negatives = None
        if self.config.uses_pn:
            negatives = list(negative_texts) if negative_texts is not None else [
                self.config.pn.negative.format(n) for n in names]
            if len(negatives) != len(texts):
                raise ValueError(f"need one negative text per class (got {len(negatives)} for {len(texts)} classes)")
        elif negative_texts is not None:
            raise ValueError("negative class texts need a model with text_kind 'pn' (docs/text-supervision.md)")
        tokens = self._prompted_tokens([t.format(x) for t in self.config.text_templates for x in texts])  # (K*C, L)
        self.class_names = names
        self.class_texts = list(texts)
        self.negative_texts = negatives
        self.register_buffer("class_tokens", tokens, persistent=False)  # (K*C, context_length)
        self._text_length = backbone.trim_padding(tokens).shape[1]
        if negatives is not None:
            neg = self._prompted_tokens([t.format(x) for t in self.config.text_templates for x in negatives])
            self.register_buffer("negative_tokens", neg, persistent=False)  # (K*C, context_length)
            self._negative_length = backbone.trim_padding(neg).shape[1]
        self._text_cache = None

    def _prompted_tokens(self, texts: Sequence[str]) -> torch.Tensor:
        """Tokens ``(N, context_length)`` of ``texts``, each after the prompt placeholders when prompts are on."""
        p = self.config.prompts
        prefix = " ".join([p.placeholder] * p.length) + " " if self.prompts is not None else ""
        tokens = backbone.tokenize(self.clip, [prefix + text for text in texts])
        if self.prompts is not None:
            placeholder_id = backbone.tokenize(self.clip, [p.placeholder])[0, 1]
            if not bool((tokens[:, 1:1 + p.length] == placeholder_id).all()):
                raise ValueError(f"prompt placeholder {p.placeholder!r} must be a single token; choose another")
        return tokens

    def tokenize_captions(self, captions: Sequence[str]) -> torch.Tensor:
        """Caption tokens ``(N, context_length)`` (after the prompt placeholders); a caption too long for
        the context is an error that quotes it."""
        return self._prompted_tokens(list(captions))

    # ------------------------------------------------------------------------------------ trainable

    def adapters(self) -> list[PEClipAdapter]:
        return [m for m in self.modules() if isinstance(m, PEClipAdapter)]

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trainable parameters by optimizer group: ``adapters`` and ``prompts`` (docs/spec.md 3.1)."""
        adapters = [p for m in self.adapters() for p in m.parameters()]
        if self.pn_weight is not None:
            adapters.append(self.pn_weight)
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

    @property
    def may_skip_parameters(self) -> bool:
        """Whether a training step may leave some trainable parameters without a gradient (DDP must then
        look for them): the other domain's head with separate heads, MoAE experts no token was routed to."""
        return self.config.heads == "separate" or bool(self.config.adapters.moe.enabled)

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

        ``video`` is ``(B, T, 3, H, W)`` with values in [0, 1]; a ``(B, 3, H, W)`` input is a batch of
        still images, which pass as ``temporal.stills`` says (:meth:`encode_stills`).
        With ``return_frames`` the per-frame embeddings ``(B, T, E)`` (not normalised) come back too.
        """
        video, skip_temporal = self._as_clips(self._check_video(video))
        if vision_prompts is None:
            vision_prompts = self.prompt_tokens()[1]
        if self.config.normalize_input:
            video = (video - self.input_mean.to(video.dtype)) / self.input_std.to(video.dtype)
        b, t = video.shape[:2]
        frames = video.reshape(b * t, *video.shape[2:])  # (B*T, 3, H, W), video-major
        self.frame_context.announce(t, b * t, skip_temporal)
        for moe in self.moe_adapters:
            moe.aux_loss = None
        # The router's balancing loss counts every token, so while training a model with MoAE the last
        # block runs for all tokens (the logits are the same either way).
        cls_only = self.cls_only_last_block and not (self.training and self.moe_adapters)
        feats = backbone.encode_images(self.clip, frames, vision_prompts, self.grad_checkpointing, cls_only)
        feats = feats.view(b, t, -1)  # (B, T, E)
        pooled = F.normalize(feats.mean(dim=1), dim=-1)  # (B, E)
        return (pooled, feats) if return_frames else pooled

    def encode_stills(self, images: torch.Tensor, vision_prompts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """L2-normalised embeddings ``(B, E)`` of still images ``(B, 3, H, W)`` in [0, 1] (docs/stills.md).

        ``temporal.stills: repeat`` (default) encodes each still as a clip of ``num_frames`` copies of
        itself, exactly what :meth:`encode_video` gives for such a clip; ``skip`` encodes it as one frame
        with every TDA skipped.
        """
        if images.dim() != 4:
            raise ValueError(f"expected still images (B, 3, H, W), got {tuple(images.shape)}")
        return self.encode_video(images, vision_prompts)

    def _as_clips(self, video: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """``(clips (B, T, 3, H, W), skip_temporal)``: stills ``(B, 3, H, W)`` become clips as
        ``temporal.stills`` says; videos pass unchanged."""
        if video.dim() == 5:
            return video, False
        stills = video.unsqueeze(1)  # (B, 1, 3, H, W)
        if not self.config.temporal.enabled:
            # Frames are encoded independently: the mean over T copies is the one frame's embedding (exact).
            return stills, False
        if self.config.temporal.stills == "skip":
            return stills, True
        return stills.expand(-1, self.config.num_frames, -1, -1, -1), False  # (B, T, 3, H, W), T copies

    def encode_classes(self, text_prompts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """L2-normalised (positive) class-text embeddings ``(C, E)``; see :meth:`encode_class_texts`."""
        return self.encode_class_texts(text_prompts).positive

    def encode_class_texts(self, text_prompts: list[torch.Tensor] | None = None) -> ClassEmbeddings:
        """L2-normalised class-text embeddings: positive ``(C, E)`` and, under ``text_kind: pn``, negative.

        In eval mode the result (both banks) is cached and reused until a trainable weight changes, the
        model goes back to training, or the class texts change.
        """
        key = self._cache_key()
        if self.cache_class_texts and self._text_cache is not None and self._text_cache[0] == key:
            return self._text_cache[1]
        if text_prompts is None:
            text_prompts = self.prompt_tokens()[0]
        positive = self._encode_texts(self.text_tokens(), text_prompts, "positive")
        negative = None
        if self.negative_texts is not None:
            tokens = self.negative_tokens[:, : self._negative_length] if self.trim_text_padding else \
                self.negative_tokens
            bank = "positive" if self.config.pn.share_adapters else "negative"
            negative = self._encode_texts(tokens, text_prompts, bank)
        feats = ClassEmbeddings(positive, negative)
        if not self.training and self.cache_class_texts:
            self._text_cache = (key, feats)
        return feats

    def _encode_texts(self, tokens: torch.Tensor, text_prompts: list[torch.Tensor], bank: str) -> torch.Tensor:
        """Normalised embeddings ``(C, E)`` of class tokens ``(K*C, L)`` through adapter bank ``bank``,
        averaged over the K templates (prompt ensembling)."""
        # The bank is switched for this pass and again for any recomputation of it under activation
        # checkpointing (which runs during backward, after the switch has been undone).
        with self.text_bank.use(bank):
            feats = backbone.encode_texts(self.clip, tokens, text_prompts, self.grad_checkpointing,
                                          recompute_context=partial(self.text_bank.use, bank))
        feats = F.normalize(feats, dim=-1)  # (K*C, E)
        k = len(self.config.text_templates)
        if k > 1:  # prompt ensembling: mean of the normalised template embeddings
            feats = F.normalize(feats.view(k, -1, feats.shape[-1]).mean(dim=0), dim=-1)  # (C, E)
        return feats

    def encode_captions(self, captions: Sequence[str] | torch.Tensor,
                        text_prompts: list[torch.Tensor] | None = None) -> torch.Tensor:
        """L2-normalised caption embeddings ``(N, E)`` (positive bank, MaPLe text prompts), for caption
        training; ``captions`` are texts or tokens from :meth:`tokenize_captions`."""
        tokens = captions if isinstance(captions, torch.Tensor) else self.tokenize_captions(captions)
        tokens = backbone.trim_padding(tokens.to(self.class_tokens.device))  # (N, L)
        if text_prompts is None:
            text_prompts = self.prompt_tokens()[0]
        with self.text_bank.use("positive"):
            feats = backbone.encode_texts(self.clip, tokens, text_prompts, self.grad_checkpointing)
        return F.normalize(feats, dim=-1)

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

    def class_logits(self, videos: torch.Tensor, classes: ClassEmbeddings) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, C), loss logits)`` of normalised video embeddings ``(B, E)`` (docs/spec.md 2.8).

        Positive texts only: both are ``s * cos(v, t_c)``. Under ``text_kind: pn`` (docs/text-supervision.md),
        rule ``difference``: both are ``s * (cos(v, p_c) - w * cos(v, n_c))``; rule ``softmax2c``: logits
        ``s * cos(v, p_c)``, loss logits ``(B, 2C)`` = ``s * [cos(v, p_c) | cos(v, n_c)]``.
        """
        s = self.config.logit_scale
        positive = videos @ classes.positive.to(videos.dtype).T  # (B, C)
        if classes.negative is None:
            logits = s * positive
            return logits, logits
        negative = videos @ classes.negative.to(videos.dtype).T  # (B, C)
        if self.config.pn.rule == "difference":
            logits = s * (positive - self.pn_weight.to(videos.dtype) * negative)
            return logits, logits
        return s * positive, s * torch.cat([positive, negative], dim=1)  # (B, C), (B, 2C)

    def _add_domain_head(self, logits: torch.Tensor, loss_logits: torch.Tensor, videos: torch.Tensor,
                         domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the ``domain`` head's offset (``heads: separate``) to the class logits (and to the positive
        columns of the loss logits); unchanged without separate heads."""
        if self.domain_heads is None:
            return logits, loss_logits
        offset = self.config.logit_scale * self.domain_heads(videos, domain).to(logits.dtype)  # (B, C)
        c = offset.shape[1]
        loss_logits = torch.cat([loss_logits[:, :c] + offset, loss_logits[:, c:]], dim=1)  # (B, C) or (B, 2C)
        return logits + offset, loss_logits

    def logits_from_embeddings(self, videos: torch.Tensor, text_prompts: list[torch.Tensor] | None = None,
                               domain: str = "video") -> torch.Tensor:
        """Class logits ``(B, C)`` of normalised video embeddings ``(B, E)`` (class texts cached in eval)."""
        logits, loss_logits = self.class_logits(videos, self.encode_class_texts(text_prompts))
        return self._add_domain_head(logits, loss_logits, videos, domain)[0]

    def forward(self, video: torch.Tensor, captions: Sequence[str] | torch.Tensor | None = None,
                return_outputs: bool = False) -> torch.Tensor | ModelOutputs:
        """Logits ``(B, C)`` for a batch of clips ``(B, T, 3, H, W)`` or still images ``(B, 3, H, W)`` in [0, 1].

        With ``return_outputs`` a :class:`ModelOutputs` instead (for the engine's losses); ``captions``
        (one text per clip, or their tokens) are then encoded too.
        """
        text_prompts, vision_prompts = self.prompt_tokens()  # computed once, shared by both towers
        videos = self.encode_video(video, vision_prompts)
        logits, loss_logits = self.class_logits(videos, self.encode_class_texts(text_prompts))
        domain = "image" if video.dim() == 4 else "video"  # separate heads are chosen by the input's rank (S4D)
        logits, loss_logits = self._add_domain_head(logits, loss_logits, videos, domain)
        if not return_outputs:
            if captions is not None:
                raise ValueError("captions are only encoded with return_outputs=True")
            return logits
        caption_feats = self.encode_captions(captions, text_prompts) if captions is not None else None
        return ModelOutputs(logits, loss_logits, videos, caption_feats)

    def _check_video(self, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(video, torch.Tensor):
            raise TypeError(f"expected a video tensor (B, T, 3, H, W), got {type(video).__name__}")
        size = self.sizes.image_size
        if video.dim() not in (4, 5) or video.shape[-3] != 3 or video.shape[-2:] != (size, size):
            raise ValueError(f"expected video of shape (B, T, 3, {size}, {size}) (or still images (B, 3, {size}, "
                             f"{size})) with values in [0, 1], got "
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
    if ".ls_1.negative_adapter." in name:
        return "adapters: text ShA (negative texts)"
    if ".ls_2.negative_adapter." in name:
        return "adapters: text TA (negative texts)"
    if name == "pn_weight":
        return "pn: negative weight"
    if ".mlp.adapter." in name:
        return "adapters: vision MoAE"
    if name.startswith("domain_heads."):
        return "heads: image / video"
    return "other trainable"

"""Typed model configuration: one dataclass per component, validated on construction.

The faithful PE-CLIP setting (docs/spec.md) is the default of every field; each deviation is a named
switch. A config round-trips through plain dicts (``to_dict`` / ``from_dict``) so that it can live in
JSON (named models, checkpoints) and YAML (recipes).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from peclip.labels import LABEL_SETS, PN_NEGATIVE, PN_POSITIVE, TEXT_KINDS
from peclip.validation import check_choice, check_positive_int, from_dict

#: numeric precision of training and evaluation: ``auto`` is bf16 autocast on CUDA and fp32 elsewhere
PRECISIONS = ("auto", "bf16", "fp32")
#: how a still image passes the TDA (TemporalConfig.stills)
STILL_MODES = ("repeat", "skip")
#: the classifier(s): one shared class-text classifier, or per-domain (image / video) heads on top of it
HEAD_MODES = ("shared", "separate")


@dataclass(frozen=True)
class Preprocess:
    """What a model expects of its input frames: float RGB in [0, 1], ``size`` x ``size``."""

    size: int
    num_frames: int
    normalize: bool  # the model applies mean/std itself when True
    mean: tuple[float, ...]
    std: tuple[float, ...]

#: numeric precision of prediction: ``auto`` is bf16 on CUDA and on CPUs with native bf16 instructions,
#: fp32 elsewhere; ``int8`` is the quantised CPU path (:mod:`peclip.predict.int8`)
INFERENCE_PRECISIONS = ("auto", "bf16", "fp32", "int8")


@dataclass
class BackboneConfig:
    """The frozen CLIP. ``arch`` (an open_clip model config dict) overrides ``name`` for tiny test models."""

    name: str = "ViT-B-16"
    quick_gelu: bool = True  # OpenAI CLIP weights were trained with QuickGELU
    arch: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"backbone.name={self.name!r} must be an open_clip model name such as 'ViT-B-16'")
        if self.arch is not None:
            missing = {"embed_dim", "vision_cfg", "text_cfg"} - set(self.arch)
            if missing:
                raise ValueError(f"backbone.arch lacks {sorted(missing)}; it must be an open_clip model config")


@dataclass
class PromptConfig:
    """MaPLe multi-modal deep prompts (docs/spec.md 2.6)."""

    enabled: bool = True
    length: int = 2  # n_ctx: the number of prompt tokens in each tower; every prompt slice uses it
    depth: int = 9  # prompts in layers 0..depth-1: layer 0 shallow, layers 1..depth-1 deep
    init_std: float = 0.02
    placeholder: str = "X"  # the text token whose embeddings the learnable context replaces

    def __post_init__(self) -> None:
        check_positive_int("prompts", "length", self.length)
        check_positive_int("prompts", "depth", self.depth)
        if self.init_std <= 0:
            raise ValueError(f"prompts.init_std={self.init_std!r} must be > 0")


@dataclass
class MoEConfig:
    """S4D's Mixture of Adapter Experts (arXiv 2409.06154), **not part of PE-CLIP**: off by default.

    In each of the last ``last_blocks`` vision blocks a mixture of ``experts`` bottleneck adapters
    (``D -> D / reduction -> D``, 768 -> 192 -> 768 on ViT-B/16) runs in parallel with the MLP,
    ``x + MLP(LN(x)) + MoE(LN(x))``. A noisy top-``top_k`` router (Shazeer et al. 2017, arXiv 1701.06538)
    sends each token to ``top_k`` experts; its load-balancing loss, weighted by ``loss_weight``, is
    added to the training loss. docs/stills.md has the details.
    """

    enabled: bool = False
    experts: int = 8
    top_k: int = 2
    reduction: int = 4
    last_blocks: int = 6
    noisy: bool = True  # noisy top-k gating while training (no noise in eval mode)
    loss_weight: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("experts", "top_k", "reduction", "last_blocks"):
            check_positive_int("adapters.moe", name, getattr(self, name))
        if self.top_k > self.experts:
            raise ValueError(f"adapters.moe.top_k={self.top_k} exceeds adapters.moe.experts={self.experts}")
        if isinstance(self.loss_weight, bool) or not isinstance(self.loss_weight, (int, float)) or self.loss_weight < 0:
            raise ValueError(f"adapters.moe.loss_weight={self.loss_weight!r} must be a number >= 0 (S4D: 1e-3)")
        self.loss_weight = float(self.loss_weight)


@dataclass
class AdapterConfig:
    """Bottleneck adapters: ShA after every MHSA (both towers), TA after every text MLP (docs/spec.md 2.4-2.5);
    optionally S4D's mixture of adapter experts (``moe``, off by default)."""

    shared: bool = True  # ShA in both towers
    text_mlp: bool = True  # TA in the text tower
    reduction: int = 8  # bottleneck = width // reduction
    # x + scale * up(GELU(down(x))) in every ShA and TA; 1.0 is PE-CLIP's, FineCLIPER's best was 0.5
    scale: float = 1.0
    moe: MoEConfig = field(default_factory=MoEConfig)

    def __post_init__(self) -> None:
        check_positive_int("adapters", "reduction", self.reduction)
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not self.scale > 0:
            raise ValueError(f"adapters.scale={self.scale!r} must be a number > 0 (1.0: PE-CLIP's adapters)")
        self.scale = float(self.scale)
        if isinstance(self.moe, dict):
            self.moe = from_dict(MoEConfig, self.moe, "adapters.moe")


@dataclass
class TemporalConfig:
    """Temporal Dynamic Adapter after every vision MLP (docs/spec.md 2.4)."""

    enabled: bool = True
    rnn: str = "gru"
    reduction: int = 8
    scale: str = "relu"  # dynamic scale ReLU(Linear(D->1)); "sigmoid" is the paper code's commented-out variant
    # True: the recurrence runs per video along time (docs/spec.md 10 A1, our default).
    # False: the official code's behaviour, a recurrence over the flattened batch*frames axis.
    per_video: bool = True
    # How a still image (a (B, 3, H, W) input) passes the model (docs/stills.md):
    # "repeat": as a clip of num_frames copies of itself, the TDA running over it as over any clip (default:
    #   the input a video-trained PE-CLIP was trained on; a face that holds still);
    # "skip": as one frame with every TDA skipped (its residual branch off): num_frames times less vision work,
    #   and in co-training the stills train the prompts and ShA but never the TDA (as S4D keeps stills out of
    #   its temporal modules).
    stills: str = "repeat"

    def __post_init__(self) -> None:
        check_choice("temporal", "stills", self.stills, STILL_MODES)
        check_choice("temporal", "rnn", self.rnn, ("gru", "lstm", "rnn"))
        check_choice("temporal", "scale", self.scale, ("relu", "sigmoid"))
        check_positive_int("temporal", "reduction", self.reduction)


#: how positive and negative class similarities become logits (docs/text-supervision.md)
PN_RULES = ("difference", "softmax2c")


@dataclass
class PNConfig:
    """FineCLIPER's positive and negative class descriptors, used when ``text_kind`` is ``pn``
    (docs/text-supervision.md). Not PE-CLIP: off unless asked for.

    - ``positive`` / ``negative``: the two templates, ``{}`` receives the class name.
    - ``share_adapters``: ``False`` (FineCLIPER) gives the negative texts their own bank of text adapters
      (ShA and TA of the text tower; prompts are shared); ``True`` runs them through the positive bank.
    - ``rule``: ``difference`` (ours, chosen by the ablation in docs/text-supervision.md): logits
      ``s * (cos(v, p_c) - w * cos(v, n_c))`` with a learned weight ``w`` (starting at ``init_weight``);
      ``softmax2c``: the class logits are ``s * cos(v, p_c)`` and the training loss is a 2C-way softmax
      over the positive and the negative texts (the target is the true class's positive text).
    """

    positive: str = PN_POSITIVE
    negative: str = PN_NEGATIVE
    share_adapters: bool = False
    rule: str = "difference"
    init_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("positive", "negative"):
            value = getattr(self, name)
            if not isinstance(value, str) or value.count("{}") != 1:
                raise ValueError(f"pn.{name}={value!r} must be a template with one '{{}}' for the class name")
        check_choice("pn", "rule", self.rule, PN_RULES)
        if isinstance(self.init_weight, bool) or not isinstance(self.init_weight, (int, float)):
            raise ValueError(f"pn.init_weight={self.init_weight!r} must be a number")
        self.init_weight = float(self.init_weight)


class _NamedClasses:
    """The classes of a model config: its own ``classes`` list, else those of its label set."""

    @property
    def class_names(self) -> list[str]:
        return list(self.classes) if self.classes is not None else list(LABEL_SETS[self.label_set].classes)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class ModelConfig(_NamedClasses):
    """A whole PE-CLIP model: backbone, classes and their texts, and the three trainable parts."""

    name: str = "custom"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    num_frames: int = 16
    label_set: str = "basic7"
    text_kind: str = "au"
    classes: list[str] | None = None  # own class names; overrides label_set
    class_texts: list[str] | None = None  # own texts, one per class; overrides text_kind
    text_templates: list[str] = field(default_factory=lambda: ["{}"])  # averaged (prompt ensembling)
    logit_scale: float = 100.0  # fixed temperature 0.01 (docs/spec.md 2.8, 10 A12)
    normalize_input: bool = False  # faithful: frames in [0, 1], no CLIP mean/std (docs/spec.md 10 A7)
    # "shared": images and videos are scored by the one class-text classifier (PE-CLIP; default).
    # "separate": each input kind (image: (B, 3, H, W), video: (B, T, 3, H, W)) adds its own linear head,
    # zero-initialised, to the text logits (S4D's separate heads chosen by input rank; docs/stills.md).
    heads: str = "shared"
    prompts: PromptConfig = field(default_factory=PromptConfig)
    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    pn: PNConfig = field(default_factory=PNConfig)  # read only when text_kind is "pn"

    def __post_init__(self) -> None:
        check_positive_int("model", "num_frames", self.num_frames)
        check_choice("model", "heads", self.heads, HEAD_MODES)
        if self.classes is None:
            check_choice("model", "label_set", self.label_set, tuple(LABEL_SETS))
        elif len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"model.classes={self.classes!r} must list at least two distinct class names")
        if self.class_texts is None:
            check_choice("model", "text_kind", self.text_kind, TEXT_KINDS)
            if self.classes is not None and self.text_kind not in ("names", "names_context", "pn"):
                raise ValueError(
                    "model.classes is set, so give model.class_texts (one text per class) or use "
                    f"text_kind 'names' / 'names_context' / 'pn' (got text_kind={self.text_kind!r})"
                )
        elif len(self.class_texts) != self.num_classes:
            raise ValueError(
                f"model.class_texts has {len(self.class_texts)} texts for {self.num_classes} classes; "
                "give exactly one text per class"
            )
        if not self.text_templates or any("{}" not in t for t in self.text_templates):
            raise ValueError(f"model.text_templates={self.text_templates!r}: each template needs one '{{}}'")
        if self.logit_scale <= 0:
            raise ValueError(f"model.logit_scale={self.logit_scale!r} must be > 0")

    @property
    def uses_pn(self) -> bool:
        """True when the class texts are FineCLIPER's positive/negative pairs (``text_kind: pn``)."""
        return self.class_texts is None and self.text_kind == "pn"

    def texts(self) -> list[str]:
        """The class texts, one per class, in label order (the positive ones under ``text_kind: pn``)."""
        if self.class_texts is not None:
            return list(self.class_texts)
        if self.text_kind == "pn":
            return [self.pn.positive.format(c) for c in self.class_names]
        if self.classes is not None:
            suffix = "{}." if self.text_kind == "names" else "an expression of {}."
            return [suffix.format(c) for c in self.classes]
        return LABEL_SETS[self.label_set].texts(self.text_kind)

    def negative_texts(self) -> list[str] | None:
        """The negative class texts under ``text_kind: pn`` (one per class), else ``None``."""
        return [self.pn.negative.format(c) for c in self.class_names] if self.uses_pn else None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return from_dict(cls, data, "model")


@dataclass
class RuntimeOptions:
    """How a model runs, not what it computes: switches that keep the logits exact (or trade memory
    for time) and that the reference mode turns off. Recorded in checkpoints (``config.json``) and in
    run folders (``model.runtime`` of the recipe); :func:`peclip.load` restores them.

    - ``cls_only_last_block``: the last vision block runs for the class token only (exact: nothing
      else of it is read).
    - ``cache_class_texts``: in eval mode the class-text features are computed once and reused until
      a trainable weight changes (exact); ``False`` recomputes them on every forward, as the official
      code does.
    - ``trim_text_padding``: the text tower stops at the last end-of-text token (exact under the
      causal mask).
    - ``grad_checkpointing``: recompute frozen blocks in backward (saves activation memory, costs time).
    """

    cls_only_last_block: bool = True
    cache_class_texts: bool = True
    trim_text_padding: bool = True
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool):
                raise ValueError(f"runtime.{f.name}={value!r} must be true or false")

    @classmethod
    def reference(cls) -> RuntimeOptions:
        """The official code's way of running: every shortcut off."""
        return cls(cls_only_last_block=False, cache_class_texts=False, trim_text_padding=False,
                   grad_checkpointing=False)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RuntimeOptions:
        return from_dict(cls, data, "runtime")


# ------------------------------------------------------------------------------------------ light models

#: ImageNet statistics: the light models' trunks were trained on them (torchvision and timm alike)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LIGHT_TEMPORAL_KINDS = ("mean", "gru")


@dataclass
class FrameEncoderConfig:
    """ShuffViT-DFER's two trunks on the same face crop (arXiv 2409.03438, docs/light.md).

    ``shufflenet``: a torchvision builder (``shufflenet_v2_x1_0``), its ``fc`` replaced by the identity.
    ``efficientvit``: a timm model name (``efficientvit_m2``), its classification head removed.
    ``shufflenet_arch`` / ``efficientvit_arch`` replace the named architectures for tiny test models:
    ``ShuffleNetV2(**shufflenet_arch)`` and ``timm.create_model(efficientvit, **efficientvit_arch)``.
    """

    shufflenet: str = "shufflenet_v2_x1_0"
    efficientvit: str = "efficientvit_m2"
    shufflenet_arch: dict | None = None
    efficientvit_arch: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.shufflenet, str) or not self.shufflenet.startswith("shufflenet_v2"):
            raise ValueError(f"encoder.shufflenet={self.shufflenet!r} must be a torchvision ShuffleNetV2 builder, "
                             "e.g. shufflenet_v2_x1_0")
        if not isinstance(self.efficientvit, str) or not self.efficientvit.startswith("efficientvit_m"):
            raise ValueError(f"encoder.efficientvit={self.efficientvit!r} must be a timm EfficientViT (MSRA) name, "
                             "e.g. efficientvit_m2")
        if self.shufflenet_arch is not None and set(self.shufflenet_arch) != {"stages_repeats", "stages_out_channels"}:
            raise ValueError("encoder.shufflenet_arch must give exactly stages_repeats and stages_out_channels "
                             f"(torchvision.models.ShuffleNetV2), got {sorted(self.shufflenet_arch)}")


@dataclass
class LightHeadConfig:
    """The classifier after the concatenated features: (Linear - BatchNorm1d - ReLU - Dropout) per hidden
    width, then Linear C. ShuffViT-DFER: hidden [512, 256], dropout 0.5."""

    hidden: list[int] = field(default_factory=lambda: [512, 256])
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, list) or not self.hidden:
            raise ValueError(f"head.hidden={self.hidden!r} must list at least one width, e.g. [512, 256]")
        for width in self.hidden:
            check_positive_int("head", "hidden[]", width)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"head.dropout={self.dropout!r} must be a number in [0, 1)")


@dataclass
class LightTemporalConfig:
    """How the frames of a clip are combined (ours: ShuffViT-DFER is a single-frame model).

    - ``mean``: the head classifies every frame; the clip's logits are the mean over frames (with one
      frame, exactly the paper's model).
    - ``gru``: the head's last hidden features of each frame go through a GRU over time; its final
      state is classified (a linear layer to C). The order of frames matters.
    """

    kind: str = "mean"
    hidden: int = 256

    def __post_init__(self) -> None:
        check_choice("temporal", "kind", self.kind, LIGHT_TEMPORAL_KINDS)
        check_positive_int("temporal", "hidden", self.hidden)


@dataclass
class LightConfig(_NamedClasses):
    """A light, fully trainable model (family ``light``): ShuffViT-DFER and its temporal variant.

    Same conventions as :class:`ModelConfig`: ``num_frames`` per clip, classes from ``label_set`` or
    ``classes``; frames come in [0, 1] and the model standardises them with ImageNet statistics.
    """

    name: str = "custom"
    family: str = "light"
    num_frames: int = 1
    image_size: int = 224
    label_set: str = "basic7"
    classes: list[str] | None = None
    encoder: FrameEncoderConfig = field(default_factory=FrameEncoderConfig)
    head: LightHeadConfig = field(default_factory=LightHeadConfig)
    temporal: LightTemporalConfig = field(default_factory=LightTemporalConfig)

    def __post_init__(self) -> None:
        if self.family != "light":
            raise ValueError(f"LightConfig.family={self.family!r}; a light model's config says family: light")
        check_positive_int("model", "num_frames", self.num_frames)
        check_positive_int("model", "image_size", self.image_size)
        if self.classes is None:
            check_choice("model", "label_set", self.label_set, tuple(LABEL_SETS))
        elif len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"model.classes={self.classes!r} must list at least two distinct class names")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LightConfig:
        return from_dict(cls, data, "model")


def merge_overrides(base: dict, overrides: dict) -> dict:
    """Recursively merge ``overrides`` into a copy of ``base``.

    Keys may be nested dicts (``{"temporal": {"per_video": False}}``) or dotted paths
    (``{"temporal.per_video": False}``). Unknown keys are caught when the result is validated.
    """
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        parts = key.split(".")
        target = merged
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"override {key!r}: {part!r} is not a section")
        last = parts[-1]
        if isinstance(value, dict) and isinstance(target.get(last), dict):
            target[last] = merge_overrides(target[last], value)
        else:
            target[last] = copy.deepcopy(value)
    return merged

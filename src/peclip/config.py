"""Typed model configuration: one dataclass per component, validated on construction.

The faithful PE-CLIP setting (docs/spec.md) is the default of every field; each deviation is a named
switch. A config round-trips through plain dicts (``to_dict`` / ``from_dict``) so that it can live in
JSON (named models, checkpoints) and YAML (recipes).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from peclip.labels import LABEL_SETS, TEXT_KINDS
from peclip.validation import check_choice, check_positive_int, from_dict

#: numeric precision of training and evaluation: ``auto`` is bf16 autocast on CUDA and fp32 elsewhere
PRECISIONS = ("auto", "bf16", "fp32")

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
class AdapterConfig:
    """Bottleneck adapters: ShA after every MHSA (both towers), TA after every text MLP (docs/spec.md 2.4-2.5)."""

    shared: bool = True  # ShA in both towers
    text_mlp: bool = True  # TA in the text tower
    reduction: int = 8  # bottleneck = width // reduction

    def __post_init__(self) -> None:
        check_positive_int("adapters", "reduction", self.reduction)


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

    def __post_init__(self) -> None:
        check_choice("temporal", "rnn", self.rnn, ("gru", "lstm", "rnn"))
        check_choice("temporal", "scale", self.scale, ("relu", "sigmoid"))
        check_positive_int("temporal", "reduction", self.reduction)


@dataclass
class ModelConfig:
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
    prompts: PromptConfig = field(default_factory=PromptConfig)
    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)

    def __post_init__(self) -> None:
        check_positive_int("model", "num_frames", self.num_frames)
        if self.classes is None:
            check_choice("model", "label_set", self.label_set, tuple(LABEL_SETS))
        elif len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"model.classes={self.classes!r} must list at least two distinct class names")
        if self.class_texts is None:
            check_choice("model", "text_kind", self.text_kind, TEXT_KINDS)
            if self.classes is not None and self.text_kind not in ("names", "names_context"):
                raise ValueError(
                    "model.classes is set, so give model.class_texts (one text per class) or use "
                    f"text_kind 'names' / 'names_context' (got text_kind={self.text_kind!r})"
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
    def class_names(self) -> list[str]:
        return list(self.classes) if self.classes is not None else list(LABEL_SETS[self.label_set].classes)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def texts(self) -> list[str]:
        """The class texts, one per class, in label order."""
        if self.class_texts is not None:
            return list(self.class_texts)
        if self.classes is not None:
            suffix = "{}." if self.text_kind == "names" else "an expression of {}."
            return [suffix.format(c) for c in self.classes]
        return LABEL_SETS[self.label_set].texts(self.text_kind)

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

"""The model a prediction runs: a fine-tuned checkpoint or a zero-shot CLIP, with its settings applied."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from peclip.checkpoint import load
from peclip.config import RuntimeOptions
from peclip.factory import create_model, family_of
from peclip.labels import LABEL_SETS
from peclip.layout import resolve_checkpoint
from peclip.model import PEClip
from peclip.precision import resolve_inference_precision
from peclip.predict.int8 import Int8PEClip, quantize_int8
from peclip.predict.onnx import OnnxModel, load_exported
from peclip.predict.options import ENGINES
from peclip.predict.zeroshot import resolve_templates, zero_shot_model
from peclip.registry import get_model_config

log = logging.getLogger(__name__)

@dataclass
class ModelRequest:
    """Which model to predict with. Give ``checkpoint`` (a run or checkpoint folder) or ``model`` (a built-in
    name for zero-shot use). ``overrides`` are ModelConfig fields and ``runtime`` RuntimeOptions fields
    (``--set model.* / runtime.*``). ``precision`` is ``auto``, ``fp32``, ``bf16`` or ``int8`` (see
    :func:`for_precision`); ``int8=True`` is the older spelling of ``precision="int8"``."""

    checkpoint: str | None = None
    model: str | None = None
    pretrained: str | None = None
    texts: str | None = None
    templates: str | list[str] | None = None
    label_set: str | None = None
    overrides: dict = field(default_factory=dict)
    runtime: dict = field(default_factory=dict)
    int8: bool = False
    device: str = "cpu"
    engine: str = "torch"  # torch | onnx (``checkpoint`` is then a file written by `peclip export`)
    precision: str = "fp32"


def build_model(request: ModelRequest):
    """The model ``request`` asks for, in eval mode on its device, prepared for its precision (the
    class-text features computed; an int8 copy for ``int8``); errors say what to pass."""
    r = request
    start = time.perf_counter()
    precision = "int8" if r.int8 else r.precision
    if r.int8 and r.precision not in ("int8", "fp32", "auto"):
        raise ValueError(f"--int8 and --precision {r.precision} disagree; give --precision int8 alone")
    if precision == "int8" and r.device != "cpu":
        raise ValueError(f"--precision int8 is a CPU inference path; drop it or use --device cpu (got {r.device!r})")
    if r.engine not in ENGINES:
        raise ValueError(f"engine={r.engine!r} is not valid; choose one of {', '.join(ENGINES)}")
    if r.engine == "onnx":
        return _onnx_model(r)
    if r.checkpoint and r.model:
        raise ValueError("give either --checkpoint RUN (a fine-tuned model) or --model NAME (zero-shot), not both")
    if not r.checkpoint and not r.model:
        raise ValueError("no model given: pass --checkpoint RUN for a fine-tuned model, or --model clip-vit-b16 "
                         "--pretrained openai for zero-shot prediction with CLIP and the class texts")
    if r.model and family_of(get_model_config(r.model)).whole_checkpoint:
        # a light model by name: no text tower, so no zero-shot; it runs untrained (random weights, warned)
        if r.texts or r.templates or r.label_set:
            raise ValueError(f"{r.model} has no text tower: --texts/--templates/--label-set do not apply")
        model = create_model(r.model, pretrained=r.pretrained, **r.overrides)
    elif r.model:
        model = zero_shot_model(r.model, pretrained=r.pretrained, texts=r.texts or "au", templates=r.templates,
                                label_set=r.label_set, **r.overrides)
        model.runtime = RuntimeOptions.from_dict({**model.runtime.to_dict(), **r.runtime})
    else:
        if r.label_set:
            raise ValueError("--label-set applies to zero-shot models only; a checkpoint keeps its own classes")
        directory = resolve_checkpoint(r.checkpoint)  # a run folder or a checkpoint folder
        overrides = dict(r.overrides)
        if r.templates is not None:
            overrides["text_templates"] = resolve_templates(r.templates)
        model = load(directory, pretrained=r.pretrained, runtime=r.runtime, **overrides)
        if r.texts:
            log.warning("replacing the class texts the checkpoint was trained with by the %r texts", r.texts)
            model.set_class_texts(texts_for(model.class_names, r.texts), model.class_names)
    built = time.perf_counter()
    model = for_precision(model.to(r.device).eval(), precision)
    log.info("model ready in %.1f s (built in %.1f s, prepared for %s in %.1f s)", time.perf_counter() - start,
             built - start, model.inference_precision, time.perf_counter() - built)
    return model


def for_precision(model: PEClip, precision: str = "auto") -> PEClip:
    """``model`` ready to predict at ``precision``, which it records as ``model.inference_precision``.

    ``auto`` / ``fp32`` / ``bf16`` resolve with :func:`peclip.precision.resolve_inference_precision`
    and return ``model`` itself; ``int8`` returns an int8 copy (:func:`peclip.predict.int8.quantize_int8`).
    The class-text features are computed here, in fp32, once: every window after reuses them. A model
    already prepared is returned as it is when ``precision`` is ``auto`` or the same.
    """
    prepared = getattr(model, "inference_precision", None)
    if isinstance(model, Int8PEClip):
        if precision not in ("auto", "int8"):
            raise ValueError(f"this model is an int8 copy; to predict at {precision}, use the fp32 model it was "
                             "made from")
        prepared = "int8"
    if prepared is not None and precision in ("auto", prepared):
        model.inference_precision = prepared
        return model
    first = next(model.parameters(), None)
    if first is None:  # an exported graph (--engine onnx) runs at the precision it was exported with
        model.inference_precision = "fp32"
        return model
    resolved = resolve_inference_precision(precision, first.device)
    model.eval()
    if not isinstance(model, PEClip):  # a light model (peclip.light): no text tower to prepare
        if resolved == "int8":
            raise ValueError("--precision int8 is PE-CLIP's int8 path; a light model runs int8 through an exported "
                             "graph: peclip export RUN --onnx OUT.onnx, then --engine onnx")
        model.inference_precision = resolved
        return model
    if resolved == "int8":
        model = quantize_int8(model)
    model.inference_precision = resolved
    with torch.inference_mode():
        model.encode_classes()  # fp32 (no autocast here), cached by the model for the windows that follow
    return model


def _onnx_model(r: ModelRequest) -> OnnxModel:
    flags = {"--model": r.model, "--pretrained": r.pretrained, "--texts": r.texts, "--templates": r.templates,
             "--label-set": r.label_set, "--int8": r.int8, "--set": r.overrides or r.runtime}
    return load_exported(r.checkpoint, device=r.device, precision=r.precision, unused=flags)


def texts_for(class_names: list[str], kind: str) -> list[str]:
    """The ``kind`` texts of ``class_names`` from the built-in label set that holds them."""
    for label_set in LABEL_SETS.values():
        if set(class_names) <= set(label_set.classes):
            return [label_set.texts(kind)[label_set.index(c)] for c in class_names]
    raise ValueError(f"--texts {kind} needs classes from a built-in label set; this checkpoint's classes are "
                     f"{', '.join(class_names)}")

"""Checkpoints of the official PE-CLIP training script <-> peclip checkpoint folders.

The official ``FERPAmainmxp.py`` saves ``torch.save({'epoch', 'state_dict', 'best_acc', 'optimizer',
'scheduler'})`` where ``state_dict`` comes from a ``torch.nn.DataParallel`` model (keys start with
``module.``). Its trainable tensors have the shapes and layouts of peclip's (no transposes, GRU gates
in the same order); only the names differ, and this module maps them (:data:`RULES`), for any number
of layers, so the tiny test models convert as ViT-B/16 does (315 tensors, 9,399,564 values).

The same tensors appear again under aliases (``text_encoder.`` = ``clip_model.``, ``image_encoder.``
= ``clip_model.visual.``); the copies must agree. ``prompt_learner.token_prefix`` / ``token_suffix``
are buffers (the embedded class texts), not weights. The frozen CLIP (``clip_model.*`` without
``adapter``) has open_clip's names for OpenAI's weights; it is used only with ``with_backbone``.

A converted checkpoint records peclip's faithful mode (``temporal.per_video=false``: the official
GRU over the flattened batch*frames axis, docs/spec.md 10 A1), so it gives the official model's logits.
Files are read with ``torch.load(weights_only=True)``: a pickle that would run code is refused.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from peclip import checkpoint
from peclip.factory import create_model, resolve_config
from peclip.hub import sha256
from peclip.layout import WEIGHTS_FILE
from peclip.model import PEClip

log = logging.getLogger(__name__)

PREFIX = "module."  # torch.nn.DataParallel
#: alias prefix -> the prefix of the same tensors under ``clip_model`` (official GenerateModel attributes)
ALIASES = {"text_encoder.": "clip_model.", "image_encoder.": "clip_model.visual."}
#: what MaPLe's TextEncoder takes from clip_model (so they appear under text_encoder. too)
TEXT_ENCODER_PARTS = ("transformer.", "positional_embedding", "ln_final.", "text_projection")
BUFFERS = ("prompt_learner.token_prefix", "prompt_learner.token_suffix")
BACKBONE_FILE = "clip.safetensors"  # frozen CLIP taken from an official checkpoint (--with-backbone)
#: the config switch that makes peclip compute what the official code computes (docs/spec.md 10 A1)
FAITHFUL = {"temporal.per_video": False}

_FIELDS = {"i": r"\d+", "k": r"\d+", "w": "weight|bias", "lin": "down_proj|up_proj",
           "tda": "scale|down_proj|up_proj", "gru": "weight_ih_l0|weight_hh_l0|bias_ih_l0|bias_hh_l0"}
_TEXT = "clip.transformer.resblocks.{i}"
_VISION = "clip.visual.transformer.resblocks.{i}"

#: (official name, peclip name, shift of ``{k}``: peclip k = official k + shift). The first V-L
#: coupling is MaPLe's ``proj``; the K-th deep coupling (``compound_prompt_projections.K``) follows it.
RULES = (
    ("prompt_learner.ctx", "prompts.ctx", 0),
    ("prompt_learner.compound_prompts_text.{k}", "prompts.deep_text.{k}", 0),
    ("prompt_learner.proj.{w}", "prompts.coupling.0.{w}", 0),
    ("prompt_learner.compound_prompt_projections.{k}.{w}", "prompts.coupling.{k}.{w}", 1),
    # text: shared adapter after attention (ls_1) and the text adapter after the MLP (ls_2)
    ("clip_model.transformer.resblocks.{i}.adapter_pre_attn.{lin}.{w}", _TEXT + ".ls_1.adapter.{lin}.{w}", 0),
    ("clip_model.transformer.resblocks.{i}.adapter_pre_mlp.{lin}.{w}", _TEXT + ".ls_2.adapter.{lin}.{w}", 0),
    # vision: shared adapter after attention (ls_1) and the TDA after the MLP (ls_2)
    ("clip_model.visual.transformer.resblocks.{i}.adapter_pre_attn.{lin}.{w}", _VISION + ".ls_1.adapter.{lin}.{w}", 0),
    ("clip_model.visual.transformer.resblocks.{i}.adapter_pre_mlp.{tda}.{w}", _VISION + ".ls_2.adapter.{tda}.{w}", 0),
    ("clip_model.visual.transformer.resblocks.{i}.adapter_pre_mlp.adapter_layer_norm_before.{w}",
     _VISION + ".ls_2.adapter.layer_norm.{w}", 0),
    ("clip_model.visual.transformer.resblocks.{i}.adapter_pre_mlp.rnn.{gru}", _VISION + ".ls_2.adapter.rnn.{gru}", 0),
)


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)  # literal, field, literal, field, ...
    regex = "".join(re.escape(p) if n % 2 == 0 else f"(?P<{p}>{_FIELDS[p]})" for n, p in enumerate(parts))
    return re.compile(regex + r"\Z")


_COMPILED = [(_pattern(off), _pattern(own), off, own, shift) for off, own, shift in RULES]


def to_peclip_name(official: str) -> str | None:
    """peclip's name of an official trainable tensor (without ``module.``), or None if it is not one."""
    for pattern, _, _, own, shift in _COMPILED:
        match = pattern.match(official)
        if match:
            fields = match.groupdict()
            if "k" in fields:
                fields["k"] = str(int(fields["k"]) + shift)
            return own.format(**fields)
    return None


def to_official_name(name: str) -> str:
    """The official name (without ``module.``) of peclip's trainable tensor ``name``."""
    for _, pattern, off, _, shift in _COMPILED:
        match = pattern.match(name)
        if match:
            fields = match.groupdict()
            if "k" in fields:
                k = int(fields["k"]) - shift
                if k < 0:
                    continue  # coupling.0 is ``proj``, matched by its own rule
                fields["k"] = str(k)
            return off.format(**fields)
    raise ValueError(f"peclip tensor {name!r} has no counterpart in the official PE-CLIP code (a config the "
                     "official code cannot express, e.g. prompts or adapters switched off, or an LSTM/RNN TDA)")


def _is_frozen_clip(name: str) -> bool:
    return name.startswith("clip_model.") and "adapter" not in name


# ------------------------------------------------------------------------------------------- reading

@dataclass
class OfficialCheckpoint:
    """An official checkpoint's contents: trainable tensors (official names), frozen CLIP (open_clip
    names), the class-text buffers, and the numbers stored beside them."""

    trainable: dict[str, torch.Tensor]
    backbone: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    info: dict = field(default_factory=dict)

    @property
    def prompt_length(self) -> int:
        return int(self.trainable["prompt_learner.ctx"].shape[0])

    @property
    def prompt_depth(self) -> int:
        return 1 + sum(1 for k in self.trainable if k.startswith("prompt_learner.compound_prompts_text."))

    @property
    def num_classes(self) -> int | None:
        prefix = self.buffers.get("prompt_learner.token_prefix")
        return int(prefix.shape[0]) if prefix is not None else None


def _read_pickle(path: Path) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; give the .pth file the official PE-CLIP script saved "
                                "(checkpoint/...model_best.pth)")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = _unsafe_globals(path)
        raise ValueError(f"refused to load {path}: it holds objects other than tensors and numbers "
                         f"({', '.join(unsafe) or 'see below'}), and unpickling them could run code. peclip loads "
                         "checkpoints with torch.load(weights_only=True); an official PE-CLIP checkpoint is a dict "
                         f"of tensors and numbers and loads so. torch said: {str(err).splitlines()[0]}") from err
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"cannot read {path} ({err}); the file is truncated or damaged, or it is not a file "
                         "written by torch.save (copy it again and compare its size)") from err


def _unsafe_globals(path: Path) -> list[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # only improves the message; the refusal stands either way
        return []


def read_official(path: str | os.PathLike) -> OfficialCheckpoint:
    """Read and check an official PE-CLIP checkpoint (``.pth``): names, aliases, completeness."""
    path = Path(path)
    data = _read_pickle(path)
    if not isinstance(data, dict) or "state_dict" not in data or not isinstance(data["state_dict"], dict):
        found = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path} is not an official PE-CLIP checkpoint: expected a dict with 'state_dict' "
                         f"(and 'epoch', 'best_acc', ...), found {found}")
    state = data["state_dict"]
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: 'state_dict' holds values that are not tensors; it is not a model state dict")
    state = {k.removeprefix(PREFIX): v for k, v in state.items()}
    if "prompt_learner.ctx" not in state:
        sample = ", ".join(sorted(state)[:4])
        raise ValueError(f"{path} is not an official PE-CLIP checkpoint: its state dict has no "
                         f"'module.prompt_learner.ctx' (keys begin: {sample or 'none'})")
    canonical: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        target = _canonical(key)
        if target in canonical:
            other = canonical[target]
            if other.shape != value.shape or not torch.equal(other, value.to(other.dtype)):
                raise ValueError(f"{path}: {PREFIX}{key} and its alias {PREFIX}{target} differ; the checkpoint "
                                 "is inconsistent (the official model shares these tensors)")
        else:
            canonical[target] = value
    trainable, backbone, buffers, unknown = {}, {}, {}, []
    for key, value in canonical.items():
        if to_peclip_name(key) is not None:
            trainable[key] = value
        elif key in BUFFERS:
            buffers[key] = value
        elif _is_frozen_clip(key):
            backbone[key.removeprefix("clip_model.")] = value
        elif key != "logit_scale":  # MaPLe's CustomCLIP keeps clip_model.logit_scale under this name too
            unknown.append(key)
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} tensors peclip does not know ({', '.join(unknown[:5])}"
                         f"{' ...' if len(unknown) > 5 else ''}); this is not the official PE-CLIP model")
    info = {k: _plain(data[k]) for k in ("epoch", "best_acc") if k in data}
    return OfficialCheckpoint(trainable, backbone, buffers, info)


def _canonical(key: str) -> str:
    for alias, target in ALIASES.items():
        if key.startswith(alias):
            return target + key[len(alias):]
    return key


def _plain(value):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


# -------------------------------------------------------------------------------------- conversion

def official_to_peclip(path: str | os.PathLike, out_dir: str | os.PathLike, model: str = "peclip-vit-b16",
                       pretrained: str | None = "openai", with_backbone: bool = False,
                       overrides: dict | None = None) -> Path:
    """Convert an official PE-CLIP checkpoint into a peclip checkpoint folder (faithful mode).

    ``model`` names the peclip model it was trained as; the prompt length and depth come from the
    checkpoint. The frozen CLIP is ``pretrained`` (tag or file, recorded as peclip records it), or,
    with ``with_backbone``, the checkpoint's own, written beside the trainable weights.
    """
    source = read_official(path)
    out_dir = Path(out_dir)
    config = resolve_config(model, **{"prompts.length": source.prompt_length, "prompts.depth": source.prompt_depth,
                                      **(overrides or {}), **FAITHFUL})
    if source.num_classes is not None and source.num_classes != config.num_classes:
        raise ValueError(f"{path} was trained for {source.num_classes} classes but {model} has {config.num_classes}"
                         f" ({', '.join(config.class_names)}); pass --set label_set=... or --set classes=[...]")
    if with_backbone:
        if not source.backbone:
            raise ValueError(f"{path} holds no frozen CLIP weights (no clip_model.* tensors); drop --with-backbone "
                             "and give the CLIP weights with --pretrained")
        out_dir.mkdir(parents=True, exist_ok=True)
        # as stored (OpenAI's fp16 values), so that converting back is bit-exact; clones: aliases share storage
        save_file({k: v.detach().clone().contiguous() for k, v in source.backbone.items()},
                  str(out_dir / BACKBONE_FILE))
        pretrained = str(out_dir / BACKBONE_FILE)
    converted = create_model(config, pretrained=pretrained if pretrained not in (None, "", "none") else None)
    state = {to_peclip_name(k): v for k, v in source.trainable.items()}
    checkpoint.load_trainable_state(converted, state, str(path))
    if with_backbone:
        converted.pretrained = BACKBONE_FILE  # relative to the checkpoint folder
        _check_class_buffers(converted, source, path)
    checkpoint.save(converted, out_dir, {"converted_from": {"format": "pe-clip-official", "file": Path(path).name,
                                                            "sha256": sha256(path), **source.info},
                                         "faithful": dict(FAITHFUL)})
    log.info("converted %s (%d trainable tensors, %d values) into %s", path, len(state),
             sum(v.numel() for v in state.values()), out_dir)
    return out_dir


def _class_buffers(model: PEClip, embedding: torch.Tensor) -> dict[str, torch.Tensor]:
    """The official ``token_prefix`` (C, 1, D) and ``token_suffix`` (C, context-1-n, D): the class texts
    ("X X <text>", n placeholders) embedded by CLIP's token embedding, in fp32 as the official model runs."""
    n = model.config.prompts.length
    embedded = embedding[model.class_tokens].float()  # (C, context, D)
    return {"prompt_learner.token_prefix": embedded[:, :1].clone(),
            "prompt_learner.token_suffix": embedded[:, 1 + n:].clone()}


def _check_class_buffers(model: PEClip, source: OfficialCheckpoint, path) -> None:
    if not source.buffers or "token_embedding.weight" not in source.backbone:
        return
    ours = _class_buffers(model, source.backbone["token_embedding.weight"])
    for name, theirs in source.buffers.items():
        if theirs.shape != ours[name].shape or not torch.equal(theirs.to(ours[name].dtype), ours[name]):
            log.warning("%s: its %s is not the embedding of this model's class texts; it was trained with other "
                        "class texts (set them with --set text_kind=... or class_texts)", path, name)
            return


def peclip_to_official(directory: str | os.PathLike, out_file: str | os.PathLike,
                       pretrained: str | None = None) -> Path:
    """Write a peclip checkpoint folder as the official script's ``.pth`` (``--to official``).

    The trainable tensors go under their official names and aliases. The frozen CLIP and the class
    buffers are added when the folder holds the CLIP (converted ``--with-backbone``) or ``pretrained``
    names a file; otherwise the file holds the trainable tensors only, which the authors' code loads
    with ``strict=False`` onto its own CLIP.
    """
    directory = checkpoint.resolve(directory)
    meta = checkpoint.read_config(directory)
    config = resolve_config(meta["model"])
    weights = load_file(str(directory / WEIGHTS_FILE))
    if config.temporal.per_video:
        log.warning("%s was trained with the per-video GRU (temporal.per_video=true); the official code runs the "
                    "GRU over the flattened batch*frames axis, so its logits will differ at batch size > 1", directory)
    state = {to_official_name(k): v for k, v in weights.items()}
    backbone = None
    if (directory / BACKBONE_FILE).is_file():
        backbone = load_file(str(directory / BACKBONE_FILE))
    elif pretrained:
        model = checkpoint.load(directory, pretrained=pretrained)
        backbone = {k: v for k, v in model.clip.state_dict().items() if ".ls_1." not in k and ".ls_2." not in k}
    if backbone is not None:
        state.update({f"clip_model.{k}": v for k, v in backbone.items()})
        with torch.device("meta"):
            twin = create_model(config)  # only for the class tokens
        twin.set_class_texts(meta.get("class_texts", twin.class_texts), meta.get("class_names"))
        state.update(_class_buffers(twin, backbone["token_embedding.weight"]))
    else:
        log.warning("%s holds no CLIP weights and no --pretrained file was given: the .pth holds the trainable "
                    "tensors only (the authors' code loads it with strict=False onto its own CLIP)", directory)
    for key in list(state):  # the same tensors under the official model's other attribute names
        if key.startswith("clip_model.visual."):
            state["image_encoder." + key[len("clip_model.visual."):]] = state[key]
        elif key.startswith(tuple("clip_model." + part for part in TEXT_ENCODER_PARTS)):
            state["text_encoder." + key[len("clip_model."):]] = state[key]
    converted = meta.get("converted_from") or {}
    out = {"epoch": converted.get("epoch", meta.get("epoch", 0)), "best_acc": converted.get("best_acc", 0.0),
           "state_dict": {PREFIX + k: v for k, v in state.items()}, "optimizer": None, "scheduler": None}
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    torch.save(out, tmp)
    os.replace(tmp, out_file)
    return out_file

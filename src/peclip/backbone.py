"""The only module that touches open_clip internals.

It builds a (frozen, never edited) open_clip CLIP, loads its weights, reports its sizes, fills the
``ls_1``/``ls_2`` seams of its residual blocks with adapters, and runs both towers with MaPLe prompt
tokens inserted (docs/spec.md 2.6). Everything else in peclip talks to CLIP through these functions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from peclip.config import BackboneConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TowerSizes:
    vision_width: int
    vision_layers: int
    text_width: int
    text_layers: int
    embed_dim: int
    image_size: int
    context_length: int


# ---------------------------------------------------------------------------------------------- build

def build_clip(cfg: BackboneConfig) -> nn.Module:
    """A randomly initialised open_clip CLIP for ``cfg`` (no weights are fetched)."""
    if cfg.arch is not None:
        arch = dict(cfg.arch)
    else:
        arch = open_clip.get_model_config(cfg.name)
        if arch is None:
            raise ValueError(f"unknown open_clip model {cfg.name!r}; open_clip knows e.g. ViT-B-16, ViT-B-32, "
                             "ViT-L-14 (open_clip.list_models() lists all)")
    if arch.pop("custom_text", False) or "multimodal_cfg" in arch:
        raise ValueError(f"{cfg.name}: peclip needs CLIP's own text tower, not a custom or CoCa text model")
    arch["quick_gelu"] = cfg.quick_gelu or arch.get("quick_gelu", False)
    model = open_clip.model.CLIP(**arch)  # random init on the current default device
    _check_supported(model)
    return model


def _check_supported(model: nn.Module) -> None:
    visual = getattr(model, "visual", None)
    if not isinstance(visual, open_clip.transformer.VisionTransformer):
        raise ValueError("peclip needs an open_clip ViT image tower (VisionTransformer); "
                         f"got {type(visual).__name__}")
    if visual.attn_pool is not None or visual.pool_type != "tok":
        raise ValueError("peclip needs a ViT that pools the class token (pool_type 'tok', no attention pool)")
    if not hasattr(model, "token_embedding") or getattr(model, "text_pool_type", None) != "argmax":
        raise ValueError("peclip needs CLIP's own text tower (argmax EOT pooling), not a custom text model")
    if not (visual.transformer.batch_first and model.transformer.batch_first):
        raise ValueError("peclip needs batch-first open_clip transformers (open_clip >= 2.23)")


def sizes(model: nn.Module) -> TowerSizes:
    visual = model.visual
    image_size = visual.image_size
    return TowerSizes(
        vision_width=visual.transformer.width,
        vision_layers=len(visual.transformer.resblocks),
        text_width=model.transformer.width,
        text_layers=len(model.transformer.resblocks),
        embed_dim=visual.output_dim,
        image_size=image_size[0] if isinstance(image_size, (tuple, list)) else int(image_size),
        context_length=model.context_length,
    )


def preprocess_stats(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The backbone's own input mean and std (used when input normalisation is switched on)."""
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
    return mean, std


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Drop the positions after the last EOT token: ``(C, context) -> (C, last EOT + 1)``.

    Under the causal mask no EOT token can see those padding positions, so text features are
    unchanged (exact) while the text tower does less work (32 of 77 positions for the AU texts).
    """
    return tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]


def tokenize(model: nn.Module, texts: Sequence[str]) -> torch.Tensor:
    """CLIP BPE tokens ``(len(texts), context_length)``; the tokenizer ships with open_clip (offline).

    A text too long for the context is an error: silently cutting it would drop its EOT token.
    """
    encode = open_clip.tokenizer._tokenizer.encode
    for text in texts:
        needed = len(encode(text)) + 2  # + start and end tokens
        if needed > model.context_length:
            raise ValueError(f"text needs {needed} tokens but the context holds {model.context_length}; "
                             f"shorten it: {text[:80]!r}")
    with torch.device("cpu"):  # token ids are data, wherever the model is being built
        return open_clip.tokenize(list(texts), context_length=model.context_length)


# --------------------------------------------------------------------------------------------- weights

def load_weights(model: nn.Module, cfg: BackboneConfig, pretrained: str) -> None:
    """Load CLIP weights from a local file (OpenAI ``.pt``, open_clip state dict, safetensors) or a tag.

    A tag (e.g. ``openai``) is fetched by open_clip, which needs network access; a path never is.
    """
    path = Path(os.path.expanduser(pretrained))
    if path.is_file():
        state = _read_state_dict(path)
    elif path.suffix in (".pt", ".pth", ".bin", ".safetensors") or os.sep in pretrained:
        raise FileNotFoundError(f"CLIP weights file {pretrained!r} does not exist; give the path to an OpenAI "
                                "'.pt' or open_clip checkpoint, or a tag such as 'openai'")
    else:
        if cfg.arch is not None:
            raise ValueError(f"pretrained tag {pretrained!r} cannot be used with a custom 'arch' backbone; "
                             "give a checkpoint file instead")
        tags = [t for name, t in open_clip.list_pretrained() if name == cfg.name]
        if pretrained not in tags:
            raise ValueError(f"{pretrained!r} is neither a file nor a known tag for {cfg.name}; "
                             f"known tags: {', '.join(tags) or 'none'}")
        log.info("fetching %s weights for %s through open_clip (needs network access)", pretrained, cfg.name)
        source = open_clip.create_model(cfg.name, pretrained=pretrained, force_quick_gelu=cfg.quick_gelu)
        state = source.state_dict()
    _load_strict(model, state, pretrained)


_NOT_A_CHECKPOINT = ("give CLIP weights as an OpenAI '.pt', an open_clip state dict ('.pt'/'.pth', saved with "
                     "torch.save(model.state_dict(), path)) or a '.safetensors' file")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file. Nothing in the file is run: safetensors, ``torch.load`` with
    ``weights_only=True``, and TorchScript archives (OpenAI's releases) read by
    :func:`_read_torchscript_tensors`, which takes their tensors and never their code."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(f"not a checkpoint: {path} ({err}); {_NOT_A_CHECKPOINT}") from err
    elif zipfile.is_zipfile(path) and _is_torchscript(path):
        state = _read_torchscript_tensors(path)
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for unreadable files
            reason = str(err).strip().splitlines()[-1] if "Weights only load failed" not in str(err) else (
                "it is not a tensor file, or it holds Python objects other than tensors")
            raise ValueError(f"not a checkpoint: {path} ({reason}); {_NOT_A_CHECKPOINT}") from err
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"not a checkpoint: {path} holds a {type(state).__name__}, not a state dict; "
                         f"{_NOT_A_CHECKPOINT}")
    for key in ("input_resolution", "context_length", "vocab_size"):  # OpenAI JIT metadata
        state.pop(key, None)
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    check_finite(state, str(path))
    return state


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse tensors holding NaN or inf, naming them (damaged bytes load without a format error).
    Attention masks (names ending in ``mask``) hold -inf by design; only NaN counts there."""

    def bad_values(name: str, t: torch.Tensor) -> int:
        if not t.is_floating_point():
            return 0
        return int(torch.isnan(t).sum()) if name.endswith("mask") else int((~torch.isfinite(t)).sum())

    counts = {name: bad_values(name, t) for name, t in state.items()}
    bad = [f"{name} ({n} of {state[name].numel()} values)" for name, n in counts.items() if n]
    if bad:
        raise ValueError(f"{source} holds NaN or inf values in {len(bad)} tensor(s): {', '.join(bad[:5])}"
                         f"{' ...' if len(bad) > 5 else ''}; the file is damaged (or training diverged): restore "
                         "or re-save it")


def _is_torchscript(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


# TorchScript archives hold code (``code/``) and a pickle (``data.pkl``) of the module tree; torch.jit.load
# compiles and runs that code (a module's TorchScript ``__setstate__`` runs at load). The reader below
# unpickles ``data.pkl`` with classes that only store attributes, resolves nothing but tensor rebuilding,
# and reads tensor bytes from ``data/``: the archive's code is never compiled or run.
_TORCH_DTYPES = {"DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
                 "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
                 "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
                 "BoolStorage": torch.bool}
_CONVERT = ("convert it once, where you trust the file, to a state dict: python -c \"import torch; "
            "m = torch.jit.load('IN.pt', map_location='cpu'); torch.save(m.state_dict(), 'OUT.pt')\" and "
            "pass OUT.pt")


class _ScriptObject:
    """A TorchScript object as plain data: its attributes, never its methods."""

    _custom_state = None

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
            self._custom_state = None
        else:  # a __getstate__ of its own: restoring it means running the module's __setstate__ code
            self._custom_state = state


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *_unused) -> torch.Tensor:
    return torch.as_strided(storage, tuple(size), tuple(stride), offset)


class _TensorOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):
            return type(name, (_ScriptObject,), {})
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, requires_grad, hooks, *rest: data
        if module == "torch.jit._pickle" and (name.startswith("build_") or name == "restore_type_tag"):
            return lambda value, *_type: value  # typed lists and tags of plain values
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        raise ValueError(f"{self.path} is a TorchScript archive that holds {module}.{name}, which a plain weights "
                         f"file does not; it is not read (loading it would run its code). To use it, {_CONVERT}")

    def persistent_load(self, pid):
        kind, dtype, key, _location, numel = pid
        if kind != "storage" or not isinstance(dtype, torch.dtype):
            raise ValueError(f"{self.path}: unexpected storage record {pid!r}")
        data = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
        return torch.frombuffer(data, dtype=dtype, count=int(numel)) if numel else torch.empty(0, dtype=dtype)


def _read_torchscript_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The parameters and buffers of a TorchScript archive, read without compiling or running its code."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pickles:
            raise ValueError(f"not a checkpoint: {path} is a zip without data.pkl; {_NOT_A_CHECKPOINT}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = archive.read(f"{prefix}byteorder").decode().strip() if f"{prefix}byteorder" in names else "little"
        if byteorder != sys.byteorder:
            raise ValueError(f"{path} stores {byteorder}-endian tensors; this machine is {sys.byteorder}-endian. "
                             f"To use it, {_CONVERT}")
        try:
            root = _TensorOnlyUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, path).load()
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as err:
            raise ValueError(f"not a checkpoint: {path} is a damaged TorchScript archive ({err})") from err
    state: dict[str, torch.Tensor] = {}

    def walk(obj, prefix: str) -> None:
        if isinstance(obj, torch.Tensor):
            state[prefix.rstrip(".")] = obj.clone()
        elif isinstance(obj, _ScriptObject):
            if obj._custom_state is not None:  # class default None; set by __setstate__ for a non-dict state
                raise ValueError(f"{path} is a TorchScript archive whose module {prefix.rstrip('.') or '(root)'} "
                                 "restores itself with its own code (__setstate__); it is not read, since that "
                                 f"would run the code. To use it, {_CONVERT}")
            for name, value in vars(obj).items():
                if name != "_custom_state":
                    walk(value, f"{prefix}{name}.")

    walk(root, "")
    if not state:
        raise ValueError(f"not a checkpoint: {path} is a TorchScript archive without tensors; {_NOT_A_CHECKPOINT}")
    return state


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    own = model.state_dict()
    transient = {name for name, _ in model.named_buffers()} - set(own)  # e.g. attn_mask in TorchScript files
    state = {k: v for k, v in state.items() if k not in transient}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing {len(missing)} (e.g. {missing[:3]})")
        if unexpected:
            details.append(f"unexpected {len(unexpected)} (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            details.append(f"{len(wrong)} with other shapes (e.g. {k}: {tuple(state[k].shape)} in the file, "
                           f"{tuple(own[k].shape)} in the model)")
        raise ValueError(f"CLIP weights in {source} do not fit this backbone: {'; '.join(details)}. "
                         "Check that the model name matches the checkpoint (e.g. ViT-B-16 vs ViT-B-32)")
    model.load_state_dict(state, strict=True)


# ----------------------------------------------------------------------------------------------- seams

def vision_blocks(model: nn.Module) -> nn.ModuleList:
    return model.visual.transformer.resblocks


def text_blocks(model: nn.Module) -> nn.ModuleList:
    return model.transformer.resblocks


def patch_grid(model: nn.Module) -> tuple[int, int]:
    """The vision tower's patch grid ``(rows, cols)``: token ``1 + r * cols + c`` is patch ``(r, c)``."""
    rows, cols = model.visual.grid_size
    return int(rows), int(cols)


@dataclass
class AttentionRecord:
    """One vision block's attention in one forward pass, recorded by :func:`record_vision_attention`.

    ``probs`` ``(N, heads, L_query, L_key)`` are the softmax attention probabilities per head;
    ``tokens`` ``(N, L_key, D)`` the block's normalised input (``ln_1(x)``) that attention reads.
    Both keep their autograd graph: ``torch.autograd.grad(logit, record.probs)`` gives the attention gradient.
    """

    block: int
    probs: torch.Tensor
    tokens: torch.Tensor


@contextmanager
def record_vision_attention(model: nn.Module) -> Iterator[list[AttentionRecord]]:
    """While active, every vision block's attention also records its probabilities per head.

    open_clip's ``ResidualAttentionBlock.attention`` calls ``nn.MultiheadAttention`` with
    ``need_weights=False``; here each block's ``attention`` is shadowed by an instance attribute that
    computes the same attention with the same weights, step by step, and keeps the per-head
    probabilities (equal outputs up to float rounding; a test checks it). The blocks' classes are not
    edited and the shadow is removed on exit. Blocks run in order, so the
    list holds ``blocks x forward passes`` records in execution order.
    """
    records: list[AttentionRecord] = []
    blocks = vision_blocks(model)
    for index, block in enumerate(blocks):
        if "attention" in vars(block):
            raise RuntimeError(f"vision block {index} is already being recorded; nested recording is not supported")
        block.attention = partial(_recording_attention, block, index, records)
    try:
        yield records
    finally:
        for block in blocks:
            vars(block).pop("attention", None)


def _recording_attention(block: nn.Module, index: int, records: list[AttentionRecord], q_x: torch.Tensor,
                         k_x: torch.Tensor | None = None, v_x: torch.Tensor | None = None,
                         attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    # ResidualAttentionBlock.attention, written out so that the probabilities are the tensor the output
    # is computed from: nn.MultiheadAttention's returned weights are a view taken after use, which
    # autograd cannot differentiate with respect to.
    attn = block.attn
    if not attn._qkv_same_embed_dim or attn.bias_k is not None or attn.add_zero_attn or not attn.batch_first:
        raise RuntimeError("attention recording supports open_clip's standard nn.MultiheadAttention "
                           "(packed in-projection, batch first, no bias_k / zero attention)")
    k_x = k_x if k_x is not None else q_x
    v_x = v_x if v_x is not None else q_x
    n, lq, width = q_x.shape
    heads = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3) if attn.in_proj_bias is not None else (None, None, None)

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(n, x.shape[1], heads, width // heads).transpose(1, 2)  # (N, heads, L, D/heads)

    q = split(F.linear(q_x, w_q, b_q))
    k = split(F.linear(k_x, w_k, b_k))
    v = split(F.linear(v_x, w_v, b_v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(width // heads)  # (N, heads, Lq, Lk)
    if attn_mask is not None:
        scores = scores + attn_mask.to(scores.dtype)
    probs = scores.softmax(dim=-1)
    if attn.training and attn.dropout > 0:
        probs = F.dropout(probs, attn.dropout)
    out = (probs @ v).transpose(1, 2).reshape(n, lq, width)  # (N, Lq, D)
    records.append(AttentionRecord(index, probs, k_x))
    return attn.out_proj(out)


def fill_seam(block: nn.Module, seam: str, wrap: Callable[[nn.Module], nn.Module]) -> None:
    """Replace ``block.ls_1`` (after attention), ``block.ls_2`` (after the MLP) or ``block.mlp`` (the MLP
    itself, for a module that runs beside it) with ``wrap(original)``."""
    if seam not in ("ls_1", "ls_2", "mlp"):
        raise ValueError(f"unknown seam {seam!r}")
    setattr(block, seam, wrap(getattr(block, seam)))


# ------------------------------------------------------------------------------------------------ run

def _run_blocks(blocks: nn.ModuleList, x: torch.Tensor, attn_mask: torch.Tensor | None,
                before_block: Callable[[int, torch.Tensor], torch.Tensor], grad_checkpointing: bool,
                cls_only_last: bool = False, recompute_context: Callable[[], AbstractContextManager] | None = None):
    # x: (N, L, D) in and out ((N, 1, D) out with cls_only_last); open_clip 3.x blocks are batch-first
    last = len(blocks) - 1
    extra = {}
    if recompute_context is not None:  # state the forward ran under, restored when backward recomputes
        extra["context_fn"] = lambda: (contextlib.nullcontext(), recompute_context())
    for i, block in enumerate(blocks):
        x = before_block(i, x)
        run = partial(_class_token_block, block) if (cls_only_last and i == last) else block
        if grad_checkpointing and torch.is_grad_enabled():
            x = checkpoint(run, x, None, None, attn_mask, use_reentrant=False, **extra)
        else:
            x = run(x, attn_mask=attn_mask)
    return x


def _class_token_block(block: nn.Module, x: torch.Tensor, k_x=None, v_x=None, attn_mask=None) -> torch.Tensor:
    """A residual block evaluated for the class token only: ``(N, L, D) -> (N, 1, D)``.

    After the last vision block only the class token is read, and every per-token part of a block
    (MLP, adapters, the TDA's recurrence, which runs per token position) acts on each token alone;
    only attention mixes tokens, and it still attends over all of them. So this equals
    ``block(x)[:, :1]`` while skipping the query, output projection and MLP of the other L-1 tokens.
    """
    normed = block.ln_1(x)
    attended = block.attention(q_x=normed[:, :1], k_x=normed, v_x=normed, attn_mask=attn_mask)
    cls = x[:, :1] + block.ls_1(attended)  # (N, 1, D)
    return cls + block.ls_2(block.mlp(block.ln_2(cls)))


def encode_images(model: nn.Module, images: torch.Tensor, prompts: Sequence[torch.Tensor] = (),
                  grad_checkpointing: bool = False, cls_only_last: bool = True) -> torch.Tensor:
    """Image features ``(N, embed_dim)`` (not normalised) with MaPLe visual prompts.

    ``prompts[k]`` is the ``(n, D)`` prompt of layer k. Layer 0's tokens are appended after the
    positional embedding and before ``ln_pre``; layers 1.. replace the last n tokens (docs/spec.md 2.6).
    Without prompts this is exactly open_clip's ``encode_image``. ``cls_only_last`` evaluates the
    last block for the class token only (same result, less work; see :func:`_class_token_block`).
    """
    visual = model.visual
    n_prompt = prompts[0].shape[0] if prompts else 0
    x = visual.conv1(images)  # (N, D, g, g)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # (N, g*g, D)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)  # (N, 1, D)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)  # (N, 1+g*g, D)
    x = visual.patch_dropout(x)
    if n_prompt:
        x = torch.cat([x, prompts[0].to(x.dtype).expand(x.shape[0], -1, -1)], dim=1)  # (N, 1+g*g+n, D)
    x = visual.ln_pre(x)

    def replace_prompts(i: int, tokens: torch.Tensor) -> torch.Tensor:
        if 0 < i < len(prompts):
            deep = prompts[i].to(tokens.dtype).expand(tokens.shape[0], -1, -1)  # (N, n, D)
            tokens = torch.cat([tokens[:, :-n_prompt], deep], dim=1)
        return tokens

    x = _run_blocks(visual.transformer.resblocks, x, None, replace_prompts, grad_checkpointing, cls_only_last)
    pooled = visual.ln_post(x[:, 0])  # class token, (N, D)
    return pooled @ visual.proj if visual.proj is not None else pooled


def encode_texts(model: nn.Module, tokens: torch.Tensor, prompts: Sequence[torch.Tensor] = (),
                 grad_checkpointing: bool = False,
                 recompute_context: Callable[[], AbstractContextManager] | None = None) -> torch.Tensor:
    """Text features ``(C, embed_dim)`` (not normalised) with MaPLe text prompts.

    ``tokens`` must hold n placeholder tokens at positions 1..n when prompts are given; their
    embeddings are replaced by ``prompts[0]``, and layers 1.. replace positions 1..n again
    (docs/spec.md 2.6). The EOT token (the largest id) is pooled. Without prompts this is exactly
    open_clip's ``encode_text``. ``recompute_context`` (a context-manager factory) is entered again
    when activation checkpointing recomputes a block during backward, so that state the caller set
    for this pass (e.g. the active text adapter bank) holds then too.
    """
    cast = model.transformer.get_cast_dtype()
    length = tokens.shape[1]  # may be shorter than the context: see trim_padding
    x = model.token_embedding(tokens).to(cast)  # (C, length, D)
    n_prompt = prompts[0].shape[0] if prompts else 0

    def with_prompt(t: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        p = prompt.to(t.dtype).expand(t.shape[0], -1, -1)  # (C, n, D)
        return torch.cat([t[:, :1], p, t[:, 1 + n_prompt:]], dim=1)

    if n_prompt:
        x = with_prompt(x, prompts[0])
    x = x + model.positional_embedding[:length].to(cast)

    def replace_prompts(i: int, t: torch.Tensor) -> torch.Tensor:
        return with_prompt(t, prompts[i]) if 0 < i < len(prompts) else t

    mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
    x = _run_blocks(model.transformer.resblocks, x, mask, replace_prompts, grad_checkpointing,
                    recompute_context=recompute_context)
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # EOT token, (C, D)
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Linear) else x @ projection

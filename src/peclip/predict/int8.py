"""int8 CPU inference on onnxruntime: the vision tower exported to ONNX and dynamically quantised.

* :func:`quantize_int8`: a copy of a model whose vision tower runs as an int8 onnxruntime graph
  (``peclip predict --precision int8``);
* :func:`int8_agreement` / :func:`agreement`: how far its predictions are from the fp32 model's.

Why onnxruntime: torch's ``torch.ao.quantization.quantize_dynamic`` is deprecated ("will be
removed"); its named successor, torchao, runs int8 linear layers on the CPU only under
``torch.compile`` (eager it measured 0.9 GFLOP/s against fp32's 16-73 on the 2-core test VM, see
docs/performance.md). onnxruntime's dynamic quantisation (int8 weights per output channel, activations
quantised per call: ``MatMulInteger``) measured 1.4x ``quantize_dynamic`` and 2.2x fp32 on a ViT-B/16
MLP stack in the same run. The graph is exported with torch's maintained exporter
(``torch.onnx.export(dynamo=True)``; the TorchScript exporter is deprecated too).

What is quantised: the matrix products of the vision tower with constant weights: the attention
projections, the MLPs and the ShA/TDA adapters' projections (int8 weights per output channel with
``reduce_range``: 7-bit weights, as fbgemm does, because AVX2 CPUs without VNNI saturate 16-bit sums
of u8 x s8 products; without it the tiny test model's largest probability difference was 0.29
instead of 0.0055). The output projection (:func:`_kept_fp32`; the adapters too with
``int8_adapters=False``), the patch embedding (a convolution), LayerNorms, the TDA's GRU,
attention's activation-activation products, the last block's class-token query/key/value products
(sliced weights, not constants in the graph) and the whole text tower stay fp32. The class-text
features are computed by the fp32 text tower once and cached, as in fp32.

Exporting ViT-B/16 takes minutes on a 2-core CPU, so the quantised graph is cached on disk, keyed by
a hash of the model's weights, its config and the library versions (``PECLIP_CACHE_DIR``, else
``$XDG_CACHE_HOME/peclip``, else ``~/.cache/peclip``; ``cache_dir=False`` turns the cache off). The
cache expires graphs by age, count and size (:mod:`peclip.predict.graph_cache`: 30 days unused, 8
graphs, 2 GB by default).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from peclip.atomic import atomic_writer
from peclip.model import PEClip
from peclip.precision import autocast
from peclip.predict import graph_cache

log = logging.getLogger(__name__)

#: the optional packages the int8 path needs (``pip install 'peclip[int8]'``)
INT8_EXTRA = "pip install 'peclip[int8]'  (onnx, onnxscript, onnxruntime)"


def _require_onnx():
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError(f"int8 inference runs on onnxruntime, which is not installed ({err}); {INT8_EXTRA}, "
                           "or use --precision fp32") from err
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as err:  # pragma: no cover
        raise RuntimeError(f"exporting the vision tower to ONNX needs onnxscript ({err}); {INT8_EXTRA}") from err
    return onnxruntime, quantize_dynamic, QuantType


class _VisionGraph(nn.Module):
    """``video (1, T, 3, S, S) -> frame embeddings (1, T, E)`` (not normalised): what gets exported.

    The vision prompts depend only on trainable weights, so at inference they are constants; they are
    computed once here and stored as buffers, which the exporter folds into the graph.
    """

    def __init__(self, model: PEClip):
        super().__init__()
        self.model = model
        with torch.no_grad():
            prompts = model.prompt_tokens()[1]
        self.num_prompts = len(prompts)
        for i, p in enumerate(prompts):
            self.register_buffer(f"prompt_{i}", p.detach().clone())

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        prompts = [getattr(self, f"prompt_{i}") for i in range(self.num_prompts)]
        # PEClip's own (fp32) encode_video, also when the model is the Int8PEClip this graph serves
        return PEClip.encode_video(self.model, video, prompts, return_frames=True)[1]  # (1, T, E)


def cache_root() -> Path:
    """Where quantised graphs are kept: ``PECLIP_CACHE_DIR``, ``$XDG_CACHE_HOME/peclip`` or ``~/.cache/peclip``."""
    if os.environ.get("PECLIP_CACHE_DIR"):
        return Path(os.environ["PECLIP_CACHE_DIR"])
    base = Path(os.environ["XDG_CACHE_HOME"]) if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "peclip"


def _graph_key(graph: _VisionGraph, frames: int, int8_adapters: bool = True) -> str:
    """A hash of everything the exported graph depends on: weights, prompts, config, frames, what is quantised,
    versions."""
    import onnxruntime

    digest = hashlib.sha256()
    meta = {"config": graph.model.config.to_dict(), "runtime": graph.model.runtime.to_dict(), "frames": frames,
            "int8_adapters": int8_adapters, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "format": 2}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name, tensor in sorted(graph.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()[:32]


def _export_int8(graph: _VisionGraph, frames: int, size: int, target: Path, int8_adapters: bool = True) -> None:
    """Export ``graph`` for clips of ``frames`` frames and write its int8 dynamic quantisation to ``target``."""
    _, quantize_dynamic, QuantType = _require_onnx()
    video = torch.rand(1, frames, 3, size, size)
    start = time.perf_counter()
    log.info("int8: exporting the vision tower to ONNX (%d frames per call; minutes for ViT-B on a small CPU, "
             "then cached in %s)", frames, target.parent)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode(False), torch.no_grad(), \
            warnings.catch_warnings(), _quiet_onnx_logs():
        # the exporter notes that the GRU's flat weights are plain attributes; they are constants here
        warnings.filterwarnings("ignore", message=r"(?s).*were assigned during export.*")
        program = torch.onnx.export(graph, (video,), dynamo=True, input_names=["video"], output_names=["frames"],
                                    optimize=True, verbose=False)
        fp32_path, int8_path = Path(tmp) / "vision.onnx", Path(tmp) / "vision-int8.onnx"
        program.save(str(fp32_path))
        quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=_kept_fp32(fp32_path, int8_adapters),
                         extra_options={"MatMulConstBOnly": True})
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(target) as out:
            out.write_bytes(int8_path.read_bytes())
    log.info("int8: vision graph for %d frames exported and quantised in %.1f s", frames, time.perf_counter() - start)


def _kept_fp32(path: Path, int8_adapters: bool = True) -> list[str]:
    """Nodes that stay fp32: the output projection and, with ``int8_adapters=False``, the adapters' (ShA,
    TDA) products.

    The exporter records each node's module path in its ``namespace`` metadata; adapters sit in the
    blocks' ``ls_1`` / ``ls_2`` slots (peclip.adapters.AdapterSlot). Their products are about 5 % of
    the vision work but 8 % of the int8 graph's time in fp32 (onnxruntime's profile of peclip-vit-b16);
    quantising them too measured 1.08x faster at the same agreement (docs/performance.md).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    kept = []
    for node in graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scope = meta.get("namespace", "") + meta.get("pkg.torch.onnx.class_hierarchy", "")
        adapter = "AdapterSlot" in scope or ".adapter" in scope
        if (adapter and not int8_adapters) or "model.clip.visual.proj" in node.input:
            kept.append(node.name)
    return kept


@contextlib.contextmanager
def _quiet_onnx_logs():
    """The exporter and quantiser print advice through the root logger and stdout loggers; keep it at debug."""
    names = ["", "onnxscript", "torch.onnx", "onnx_ir"]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


class Int8Vision:
    """The int8 onnxruntime sessions of one model's vision tower, one per clip length (frames per call)."""

    def __init__(self, model: PEClip, cache_dir: str | os.PathLike | bool | None = None, threads: int | None = None,
                 int8_adapters: bool = True):
        self.graph = _VisionGraph(model).eval()
        self.int8_adapters = int8_adapters
        self.size = model.preprocess.size
        self.cache_dir = None if cache_dir is False else Path(cache_dir) if cache_dir not in (None, True) \
            else cache_root() / "int8"
        self.threads = threads or torch.get_num_threads()
        self._sessions: dict[int, object] = {}

    def session(self, frames: int):
        if frames not in self._sessions:
            onnxruntime, _, _ = _require_onnx()
            key = _graph_key(self.graph, frames, self.int8_adapters)
            if self.cache_dir is None:
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "vision-int8.onnx"
                    _export_int8(self.graph, frames, self.size, path, self.int8_adapters)
                    data = path.read_bytes()
            else:
                path = self.cache_dir / f"vision-{key}-t{frames}.onnx"
                if path.is_file():
                    log.info("int8: using the cached vision graph %s", path)
                    graph_cache.touch(path)  # its age counts from its last use
                else:
                    _export_int8(self.graph, frames, self.size, path, self.int8_adapters)
                data = path.read_bytes()
                graph_cache.prune(self.cache_dir, keep=path)  # the cache never grows without bound
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            # idle threads sleep instead of spinning: predict's face-stage thread shares the cores (measured on
            # WolfgangLanger at a 2 s stride: the same wall time, 0.91x the CPU time)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self._sessions[frames] = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return self._sessions[frames]

    def frame_embeddings(self, video: torch.Tensor, frames_per_call: int) -> torch.Tensor:
        """``video (B, T, 3, S, S)`` -> ``(B, T, E)`` float32, ``frames_per_call`` frames per session call."""
        b, t = video.shape[:2]
        chunks = video.reshape(b * t // frames_per_call, 1, frames_per_call, *video.shape[2:])  # (B*T/F, 1, F, 3, S, S)
        session = self.session(frames_per_call)
        array = chunks.detach().cpu().float().numpy()
        outs = [session.run(None, {"video": chunk})[0] for chunk in array]  # each (1, F, E)
        return torch.from_numpy(np.concatenate(outs)).reshape(b, t, -1)  # (B, T, E)


class Int8PEClip(PEClip):
    """A :class:`~peclip.model.PEClip` whose ``encode_video`` runs the int8 onnxruntime graph (CPU, inference).

    Built by :func:`quantize_int8`. The text tower, prompts and everything else are the fp32 model's.
    """

    int8_vision: Int8Vision

    def encode_video(self, video: torch.Tensor, vision_prompts: list[torch.Tensor] | None = None,
                     return_frames: bool = False) -> torch.Tensor:
        # vision_prompts are ignored: the graph holds the prompts of the weights it was exported from
        video, skip_temporal = self._as_clips(self._check_video(video))  # stills become clips as the model says
        if skip_temporal:
            raise ValueError("the int8 path encodes clips with their temporal adapter; temporal.stills=skip is not "
                             "supported under --precision int8 (use fp32)")
        b, t = video.shape[:2]
        # frames are independent without a TDA: one graph of 1 frame serves every clip length
        per_call = t if self.config.temporal.enabled else 1
        feats = self.int8_vision.frame_embeddings(video, per_call)  # (B, T, E)
        pooled = F.normalize(feats.mean(dim=1), dim=-1)  # (B, E)
        return (pooled, feats) if return_frames else pooled

    def train(self, mode: bool = True) -> PEClip:
        if mode:
            raise RuntimeError("an int8 model is for inference only; train the fp32 model and quantise it again")
        return super().train(False)


def quantize_int8(model: PEClip, cache_dir: str | os.PathLike | bool | None = None,
                  prepare_frames: int | None = None, int8_adapters: bool = True) -> Int8PEClip:
    """An int8 copy of ``model`` for CPU inference (``model`` is left as it is); see the module docstring.

    ``cache_dir`` holds the quantised graphs (default :func:`cache_root`/int8; False: no cache).
    The graph for ``prepare_frames`` frames per call (default: the model's clip length with a TDA, 1
    without) is built now, so the first prediction does not pay for it; other clip lengths are
    built when first seen. ``int8_adapters=False`` keeps the ShA/TDA adapters' products in fp32.
    """
    if isinstance(model, Int8PEClip):
        return model
    _require_onnx()
    qmodel = copy.deepcopy(model).cpu().eval()
    qmodel.__class__ = Int8PEClip  # same state; only encode_video differs
    qmodel.requires_grad_(False)
    qmodel.int8_vision = Int8Vision(qmodel, cache_dir, int8_adapters=int8_adapters)  # from the copy's own weights
    frames = prepare_frames or (model.preprocess.num_frames if model.config.temporal.enabled else 1)
    qmodel.int8_vision.session(frames)
    return qmodel


# ------------------------------------------------------------------------------------------ agreement

@dataclass(frozen=True)
class Agreement:
    """How closely another precision's predictions follow the fp32 model's over ``clips`` clips."""

    clips: int
    top1_agreement: float  # fraction of clips with the same predicted class
    max_prob_diff: float  # largest |p_fp32 - p_other| over all clips and classes
    mean_prob_diff: float  # mean |p_fp32 - p_other| over all clips and classes

    def to_dict(self) -> dict:
        return {"clips": self.clips, "top1_agreement": self.top1_agreement, "max_prob_diff": self.max_prob_diff,
                "mean_prob_diff": self.mean_prob_diff}


def compare_probabilities(reference: np.ndarray | torch.Tensor, other: np.ndarray | torch.Tensor) -> Agreement:
    """:class:`Agreement` of two ``(N, C)`` probability arrays (``reference`` is the fp32 one)."""
    p, q = torch.as_tensor(np.asarray(reference), dtype=torch.float64), torch.as_tensor(np.asarray(other),
                                                                                         dtype=torch.float64)
    if p.shape != q.shape or p.dim() != 2 or p.shape[0] == 0:
        raise ValueError(f"expected two (N, C) probability arrays of the same shape, got {tuple(p.shape)} and "
                         f"{tuple(q.shape)}")
    diff = (p - q).abs()
    return Agreement(clips=p.shape[0], top1_agreement=float((p.argmax(-1) == q.argmax(-1)).double().mean()),
                     max_prob_diff=float(diff.max()), mean_prob_diff=float(diff.mean()))


def probabilities(model: PEClip, clips: Iterable[torch.Tensor], precision: str = "fp32") -> torch.Tensor:
    """Softmax probabilities ``(N, C)`` (float32) of ``model`` over batches of clips ``(B, T, 3, H, W)``.

    ``precision`` ``bf16`` runs the vision tower under CPU/CUDA autocast; the class-text features and
    the logits and softmax stay fp32 (as :class:`~peclip.predict.scorer.WindowScorer` does).
    """
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        text_prompts, vision_prompts = model.prompt_tokens()
        classes = model.encode_classes(text_prompts).float()  # (C, E), fp32 outside autocast
        for batch in clips:
            with autocast(device, "bf16" if precision == "bf16" else "fp32"):
                videos = model.encode_video(batch.to(device), vision_prompts)  # (B, E)
            logits = model.config.logit_scale * videos.float() @ classes.T  # (B, C)
            out.append(logits.softmax(dim=-1).cpu())
    return torch.cat(out)


def agreement(model: PEClip, clips: Iterable[torch.Tensor] | torch.Tensor, precision: str = "bf16",
              other: PEClip | None = None) -> Agreement:
    """Agreement of ``model`` run at ``precision`` (or of ``other``, e.g. an int8 copy) with ``model`` in fp32."""
    batches = [clips] if isinstance(clips, torch.Tensor) else list(clips)
    if not batches:
        raise ValueError("agreement needs at least one clip")
    was_training = model.training
    reference = probabilities(model, batches, "fp32")
    candidate = probabilities(other, batches, "fp32") if other is not None else probabilities(model, batches,
                                                                                                precision)
    model.train(was_training)
    return compare_probabilities(reference, candidate)


def int8_agreement(model: PEClip, quantized: PEClip, clips: Iterable[torch.Tensor] | torch.Tensor) -> Agreement:
    """Compare the softmax probabilities of ``model`` (fp32) and ``quantized`` on ``clips`` (CPU).

    ``clips`` is a video tensor ``(N, T, 3, H, W)`` or an iterable of such batches.
    """
    return agreement(model, clips, other=quantized)

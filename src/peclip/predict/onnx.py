"""ONNX export of light models, and an onnxruntime engine that predict runs like a torch model.

``export_onnx(model, path)`` writes the model's ``forward`` (clips ``(B, T, 3, S, S)`` in [0, 1] ->
logits ``(B, C)``, batch size free) as an ONNX graph, with the model's description (config, class
names, input size and frames, whether its weights are random, the checkpoint it came from) in the
file's metadata. :class:`OnnxModel` reads such a file back and answers predict's questions (class
names, preprocessing, ``random_weights``) from that metadata; its forward runs onnxruntime on the CPU.

PE-CLIP itself is not exported: its forward holds the text tower, prompt learner and per-block
adapter seams of open_clip, and only the light models are parity-tested here (docs/light.md).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from peclip.atomic import atomic_write
from peclip.checkpoint import load as load_checkpoint
from peclip.config import Preprocess, RuntimeOptions
from peclip.factory import resolve_config
from peclip.light import ShuffViTDFER

log = logging.getLogger(__name__)

METADATA_KEY = "peclip"
_INSTALL = "ONNX export and the onnx engine need the onnx extra: pip install 'peclip[onnx]' (onnx, onnxruntime)"


def _onnx():
    try:
        import onnx  # optional dependency (the onnx extra): imported only when exporting
    except ImportError as err:
        raise RuntimeError(_INSTALL) from err
    return onnx


def _onnxruntime():
    try:
        import onnxruntime  # optional dependency (the onnx extra): imported only when running an exported model
    except ImportError as err:
        raise RuntimeError(_INSTALL) from err
    return onnxruntime
OPSET = 17


def export_onnx(model: nn.Module, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write ``model`` (a light model) as ONNX to ``path`` (atomically); the batch dimension stays free."""
    if not isinstance(model, ShuffViTDFER):
        raise ValueError(f"ONNX export supports the light models (shuffvit-dfer, shuffvit-dfer-t); "
                         f"{model.config.name} is a PE-CLIP model (see docs/light.md)")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"{path}: the ONNX file name must end in .onnx")
    model = model.eval()
    p = model.preprocess
    example = torch.rand(2, p.num_frames, 3, p.size, p.size)  # (B, T, 3, S, S)
    meta = {"model": model.config.to_dict(), "class_names": list(model.class_names),
            "num_frames": p.num_frames, "input_size": p.size, "pretrained": model.pretrained,
            "checkpoint": model.checkpoint, "random_weights": model.random_weights}

    onnx = _onnx()

    def write(tmp: Path) -> None:
        # The tracer warns about Python-side shape checks (constant for a fixed T and size, which the graph
        # has) and about GRU batch sizes; the parity tests run batch sizes 1 and 5 through onnxruntime.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
            torch.onnx.export(model, (example,), str(tmp), input_names=["video"], output_names=["logits"],
                              dynamic_axes={"video": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                              dynamo=False)  # the TorchScript exporter: no onnxscript needed
        graph = onnx.load(str(tmp))
        entry = graph.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
        onnx.save(graph, str(tmp))

    atomic_write(path, write)
    log.info("exported %s to %s", model.config.name, path)
    return path


class OnnxModel(nn.Module):
    """An exported model run by onnxruntime (CPU), with the interface predict uses."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; write one with `peclip export RUN --onnx {path.name}`")
        ort = _onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable files
            raise ValueError(f"{path} is not a readable ONNX model ({err})") from err
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(f"{path} was not written by `peclip export` (no {METADATA_KEY!r} metadata); "
                             "export the run again")
        meta = json.loads(props[METADATA_KEY])
        self.config = resolve_config(meta["model"])
        self.class_names = list(meta["class_names"])
        self.class_texts: list[str] | None = None
        self.preprocess = Preprocess(int(meta["input_size"]), int(meta["num_frames"]), True, (), ())
        self.pretrained = meta.get("pretrained")
        self.checkpoint = str(path)
        self.random_weights = bool(meta.get("random_weights"))
        self.runtime = RuntimeOptions()
        self.frame_cache_supported = False
        self.architecture = f"onnxruntime ({path.name})"
        self.engine = "onnx"  # what runs it (a torch model has no such attribute: torch)
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # predict reads the device from it

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` for clips ``(B, T, 3, S, S)`` in [0, 1], computed by onnxruntime."""
        if video.dim() == 4:
            video = video.unsqueeze(1)  # (B, 1, 3, S, S)
        array = np.ascontiguousarray(video.detach().to("cpu", torch.float32).numpy())
        (logits,) = self.session.run(["logits"], {"video": array})
        return torch.from_numpy(logits)


def load_exported(path: str | os.PathLike | None, *, device: str = "cpu", precision: str = "fp32",
                  unused: dict | None = None) -> OnnxModel:
    """The one loader of ``--engine onnx`` (predict, live, eval): the exported model at ``path`` in eval
    mode. ``unused`` maps the flags that shape a torch model (``--pretrained``, ``--set`` ...) to their
    values; any that is set is an error, as is a device other than the CPU or a precision other than fp32."""
    if not path or not str(path).endswith(".onnx"):
        raise ValueError(f"--engine onnx runs an exported model: give MODEL.onnx (got {path!r}; write one with "
                         "`peclip export RUN --onnx MODEL.onnx`)")
    given = [flag for flag, value in (unused or {}).items() if value]
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to --engine onnx (the exported graph is fixed)")
    if device not in ("cpu", "auto"):
        raise ValueError(f"--engine onnx runs on the CPU (onnxruntime); drop --device {device}")
    if precision not in ("fp32", "auto"):
        raise ValueError(f"--engine onnx runs the graph in the fp32 it was exported in; drop --precision {precision}")
    return OnnxModel(path).eval()


def parity(model: nn.Module, path: str | os.PathLike, batch: int = 2, seed: int = 0) -> float:
    """The largest absolute difference between onnxruntime's and torch's logits on one random batch."""
    p = model.preprocess
    video = torch.rand(batch, p.num_frames, 3, p.size, p.size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        expected = model.eval()(video)
    return float((OnnxModel(path)(video) - expected).abs().max())


def export_checkpoint(checkpoint: str | os.PathLike, path: str | os.PathLike) -> tuple[Path, float]:
    """Export the model of a run or checkpoint folder to ``path``; returns the path and the parity check's
    largest logit difference (onnxruntime vs torch)."""
    model = load_checkpoint(checkpoint)
    written = export_onnx(model, path)
    return written, parity(model, written)

"""Light models for tests: a saved tiny checkpoint with non-trivial BatchNorm statistics, its ONNX export,
and a small video of moving noise to run them on."""

from pathlib import Path

import numpy as np
import pytest
import torch

import peclip
from peclip.predict.onnx import export_onnx


def light_checkpoint(path: Path, name: str = "test-shuffvit-dfer-t", seed: int = 3, **overrides) -> Path:
    """A saved ``name`` (random trunks) whose BatchNorm statistics come from one training-mode batch."""
    torch.manual_seed(seed)
    model = peclip.create_model(name, **overrides)
    p = model.preprocess
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model(torch.rand(4, p.num_frames, 3, p.size, p.size))
    return peclip.save(model.eval(), path)


def exported(checkpoint: Path, path: Path) -> Path:
    """``checkpoint`` exported to ONNX at ``path``."""
    return export_onnx(peclip.load(checkpoint), path)


def moving_video(path: Path, frames: int = 48, fps: int = 24, size=(40, 56)) -> Path:
    """An MPEG-4 video of ``frames`` frames: one noise image shifted 2 px to the right per frame."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path

"""Light models for tests: a saved tiny checkpoint with non-trivial BatchNorm statistics, its ONNX export,
and (from media_helpers) a small video of moving noise to run them on."""

from pathlib import Path

import torch

import peclip
from media_helpers import moving_video  # noqa: F401  (the light tests' video)
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

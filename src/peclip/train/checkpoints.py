"""Training checkpoints: a model checkpoint folder plus the training state, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from peclip.atomic import replace_dir
from peclip.checkpoint import save as save_model
from peclip.layout import STATE_FILE


def write_checkpoint(folder: str | os.PathLike, model, extra: dict | None = None,
                     training_state: dict | None = None) -> Path:
    """Write ``model`` (peclip.save format) and, optionally, ``training_state`` into ``folder`` atomically."""

    def write(tmp: Path) -> None:
        save_model(model, tmp, extra)
        if training_state is not None:
            torch.save(training_state, tmp / STATE_FILE)

    return replace_dir(folder, write)


def read_training_state(folder: str | os.PathLike) -> dict:
    """The optimizer, epoch and RNG states saved beside a checkpoint (plain tensors; no code runs)."""
    path = Path(folder) / STATE_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:  # torch.load's errors for damaged files
        raise RuntimeError(f"cannot read the training state {path} ({err}); the checkpoint is damaged") from err

"""``EvalRequest``: what an evaluation reads and how it batches (no torch here: the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from peclip.data.config import DataConfig


@dataclass
class EvalRequest:
    """What ``peclip eval`` evaluates: a data config (dataset or manifest), split, fold, batching."""

    data: DataConfig
    split: str = "test"
    fold: int | None = None
    batch_size: int = 8
    device: str = "auto"
    precision: str = "auto"
    progress: bool = True

"""Evaluation settings with no heavy imports (the CLI reads their defaults): ``EvalRequest`` (what an evaluation
reads and how it batches) and the names of the explanation and projection methods."""

from __future__ import annotations

from dataclasses import dataclass

from peclip.data.config import DataConfig

#: how attention heads are fused in rollout, and the class-specific map methods (peclip.evaluation.explain)
HEAD_FUSIONS = ("mean", "max", "min")
CLASS_MAP_METHODS = ("grad-rollout", "gradcam")
#: 2-D projections of the embeddings (peclip.evaluation.embeddings)
PROJECTIONS = ("auto", "tsne", "umap")


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

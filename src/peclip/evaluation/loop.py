"""The evaluation loop: logits, loss and UAR/WAR over a whole split, gathered from every process."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from peclip.distributed import DistInfo, all_gather_objects
from peclip.metrics.classification import ClassificationResult, classification_result
from peclip.precision import autocast, unwrap

log = logging.getLogger(__name__)


@dataclass
class EvalOutput:
    """Predictions over a whole split (all processes gathered), in dataset order."""

    indices: np.ndarray  # (N,) dataset index of each row
    targets: np.ndarray  # (N,)
    logits: np.ndarray  # (N, C) float32
    loss: float  # mean cross-entropy
    result: ClassificationResult

    @property
    def preds(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    def metrics(self) -> dict:
        return {"loss": self.loss, **self.result.summary()}


@torch.no_grad()
def evaluate(model: nn.Module, loader, *, device: torch.device, precision: str = "fp32",
             num_classes: int | None = None, dist_info: DistInfo | None = None,
             progress: bool = True, desc: str = "eval") -> EvalOutput:
    """Logits, loss, UAR/WAR over ``loader``'s dataset, gathered from every process (docs/spec.md 4.3).

    The loader's sampler must say which dataset indices this process sees (``indices()`` of
    :class:`~peclip.distributed.ShardSampler`, or a sequential order); each sample counts once.
    """
    info = dist_info or DistInfo(device=device)
    net = unwrap(model)
    net.eval()
    sampler = loader.sampler
    order = sampler.indices() if hasattr(sampler, "indices") else list(range(len(loader.dataset)))
    logits_parts, target_parts = [], []
    for videos, labels in tqdm(loader, desc=desc, unit="batch", disable=not (progress and info.is_main),
                               dynamic_ncols=True, leave=False):
        with autocast(device, precision):
            logits = net(videos.to(device, non_blocking=True))  # (B, C)
        logits_parts.append(logits.float().cpu())
        target_parts.append(torch.as_tensor(labels).cpu())
    logits = torch.cat(logits_parts).numpy() if logits_parts else np.zeros((0, num_classes or 1), np.float32)
    targets = torch.cat(target_parts).numpy() if target_parts else np.zeros(0, np.int64)
    if len(order) != len(targets):
        raise RuntimeError(f"evaluation saw {len(targets)} clips but its sampler listed {len(order)}")
    shards = all_gather_objects((np.asarray(order, dtype=np.int64), targets, logits), info)
    indices = np.concatenate([s[0] for s in shards])
    targets = np.concatenate([s[1] for s in shards])
    logits = np.concatenate([s[2] for s in shards])
    indices, first = np.unique(indices, return_index=True)  # sorted, each sample once
    targets, logits = targets[first], logits[first]
    if targets.size == 0:
        raise ValueError("nothing to evaluate: the split is empty")
    if (targets < 0).any():
        raise ValueError(f"{int((targets < 0).sum())} evaluation clip(s) have no label; evaluation needs labels "
                         "(use `peclip predict` for unlabelled clips)")
    loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(targets).long()))
    if not math.isfinite(loss):
        log.warning("evaluation loss is %s (non-finite logits?)", loss)
    result = classification_result(targets, logits.argmax(axis=1), num_classes)
    return EvalOutput(indices, targets, logits, loss, result)

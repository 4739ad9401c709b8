"""The training loop as a plain function: device, autocast, mixing, loss, DDP details.

The model never moves itself; this function puts batches on ``device`` and runs the forward under
autocast (bf16 on CUDA when asked, fp32 otherwise). The loss is cross-entropy with Mixup/FMix chosen
per batch (docs/spec.md 2.8); training accuracy is measured against the un-mixed targets. Every random
draw of an epoch (mixing) comes from a generator seeded by ``(seed, epoch, rank)``, so an epoch is the
same whether or not the run was interrupted before it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from peclip.data.mixing import mix_batch, mixed_cross_entropy
from peclip.distributed import DistInfo, all_reduce_sum, any_rank
from peclip.precision import autocast


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message says where and what to try."""

    def __init__(self, epoch: int, step: int, value: float):
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"the training loss became {value} at epoch {epoch}, step {step}. The run stopped; the last good "
            "checkpoint (end of the previous epoch) is kept and --resume continues from it. Try: a lower "
            "learning rate (--set train.lr_adapters=... train.lr_prompts=...), full precision "
            "(--set train.precision=fp32), gradient clipping (--set train.clip_grad_norm=1.0), or check the "
            "data for broken clips (peclip scan)."
        )


@dataclass
class EpochStats:
    """One training epoch over all processes: mean loss, accuracy (un-mixed targets), throughput."""

    loss: float
    accuracy: float  # percent
    clips: int
    steps: int
    seconds: float

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else float("nan")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, *, epoch: int,
                    device: torch.device, precision: str = "fp32", mix_cfg=None, seed: int = 0,
                    grad_accum: int = 1, clip_grad_norm: float | None = None, max_steps: int | None = None,
                    dist_info: DistInfo | None = None, progress: bool = True, distiller=None) -> EpochStats:
    """Train ``model`` for one epoch of ``loader`` (micro-batches of ``(video (B, T, 3, H, W), label (B,))``).

    One optimizer step per ``grad_accum`` micro-batches (leftover micro-batches at the end are not
    used). ``mix_cfg`` (a DataConfig) turns on Mixup/FMix; ``None`` trains on plain batches. Under DDP
    gradients are synchronised on the last micro-batch of each step only. ``distiller``
    (:class:`peclip.train.distill.Distiller`) replaces the loss by the distillation loss; batches may
    then carry cached teacher logits as a third element.
    """
    info = dist_info or DistInfo(device=device)
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    steps = len(loader) // grad_accum
    if max_steps is not None:
        steps = min(steps, max_steps)
    if steps == 0:
        raise ValueError(f"the training loader has {len(loader)} micro-batch(es), fewer than one optimizer step "
                         f"({grad_accum} micro-batches); lower train.batch_size or add data")
    rng = np.random.default_rng([seed, epoch, info.rank])  # mixing draws depend only on (seed, epoch, rank)
    lr_text = " ".join(f"{g['lr']:.2e}" for g in optimizer.param_groups)
    bar = tqdm(total=steps, desc=f"epoch {epoch}", unit="step", disable=not (progress and info.is_main),
               dynamic_ncols=True, leave=False)
    loss_sum = correct = count = 0.0
    start = time.perf_counter()
    batches = iter(loader)
    optimizer.zero_grad(set_to_none=True)
    for step in range(steps):
        for micro in range(grad_accum):
            batch = next(batches)
            videos, labels = batch[0], batch[1]
            cached = batch[2] if len(batch) > 2 else None  # (B, C) teacher logits (distillation cache)
            videos = videos.to(device, non_blocking=True)
            labels = torch.as_tensor(labels).to(device, non_blocking=True)
            mixed = mix_batch(videos, labels, rng, mix_cfg) if mix_cfg is not None else None
            sync = micro == grad_accum - 1 or not hasattr(model, "no_sync")
            with contextlib.nullcontext() if sync else model.no_sync():  # backward must run inside no_sync
                with autocast(device, precision):
                    logits = model(mixed.videos if mixed is not None else videos).float()  # (B, C)
                if distiller is not None:
                    inputs = mixed.videos if mixed is not None else videos
                    loss = distiller.loss(logits, labels, inputs, mixed, cached)
                else:
                    loss = mixed_cross_entropy(logits, mixed) if mixed is not None else F.cross_entropy(logits, labels)
                if any_rank(not bool(torch.isfinite(loss)), info):
                    bar.close()
                    raise NonFiniteLossError(epoch, step, float(loss.detach()))
                (loss / grad_accum).backward()
            loss_sum += float(loss.detach()) * labels.shape[0]
            correct += float((logits.detach().argmax(dim=1) == labels).sum())
            count += labels.shape[0]
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        bar.set_postfix_str(f"loss {loss_sum / count:.4f} lr {lr_text} {count * info.world_size / elapsed:.1f} clips/s")
        bar.update(1)
    bar.close()
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], info)
    seconds = time.perf_counter() - start
    return EpochStats(loss_sum / count, 100.0 * correct / count, int(count), steps, seconds)


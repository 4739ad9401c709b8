"""The training loop as a plain function: device, autocast, mixing, loss, DDP details.

The model never moves itself; this function puts batches on ``device`` and runs the forward under
autocast (bf16 on CUDA when asked, fp32 otherwise). The loss is cross-entropy with Mixup/FMix chosen
per batch (docs/spec.md 2.8), plus the MoAE routers' weighted load-balancing loss when the model has
them (docs/stills.md); training accuracy is measured against the un-mixed targets. A co-training
loader yields ``(inputs, labels, domain)`` batches of one domain each (videos, or the stills of one
static set); loss and accuracy are then also kept per domain. Every random
draw of an epoch (mixing) comes from a generator seeded by ``(seed, epoch, rank)``, so an epoch is the
same whether or not the run was interrupted before it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from peclip.data.mixing import mix_batch, mixed_cross_entropy
from peclip.distributed import DistInfo, all_reduce_sum, any_rank
from peclip.precision import autocast, unwrap


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
    #: per domain (co-training): name -> {"loss", "accuracy", "clips"}; empty for a single-domain loader
    domains: dict = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else float("nan")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, *, epoch: int,
                    device: torch.device, precision: str = "fp32", mix_cfg=None, seed: int = 0,
                    grad_accum: int = 1, clip_grad_norm: float | None = None, max_steps: int | None = None,
                    dist_info: DistInfo | None = None, progress: bool = True,
                    domains: list[str] | None = None) -> EpochStats:
    """Train ``model`` for one epoch of ``loader`` (micro-batches of ``(video (B, T, 3, H, W), label (B,))``,
    or of stills ``(B, 3, H, W)``).

    One optimizer step per ``grad_accum`` micro-batches (leftover micro-batches at the end are not
    used). ``mix_cfg`` (a DataConfig) turns on Mixup/FMix; ``None`` trains on plain batches. Under DDP
    gradients are synchronised on the last micro-batch of each step only. With ``domains`` (names by
    domain index) the loader yields ``(inputs, labels, domain)`` and the stats are also kept per domain.
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
    per_domain = {name: [0.0, 0.0, 0.0] for name in domains or ()}  # loss sum, correct, count
    start = time.perf_counter()
    batches = iter(loader)
    optimizer.zero_grad(set_to_none=True)
    for step in range(steps):
        for micro in range(grad_accum):
            batch = next(batches)
            videos, labels = batch[0], batch[1]
            domain = _batch_domain(batch, domains)
            videos = videos.to(device, non_blocking=True)
            labels = torch.as_tensor(labels).to(device, non_blocking=True)
            mixed = mix_batch(videos, labels, rng, mix_cfg) if mix_cfg is not None else None
            sync = micro == grad_accum - 1 or not hasattr(model, "no_sync")
            with contextlib.nullcontext() if sync else model.no_sync():  # backward must run inside no_sync
                with autocast(device, precision):
                    logits = model(mixed.videos if mixed is not None else videos).float()  # (B, C)
                loss = mixed_cross_entropy(logits, mixed) if mixed is not None else F.cross_entropy(logits, labels)
                auxiliary = getattr(unwrap(model), "auxiliary_loss", lambda: None)()
                if auxiliary is not None:  # MoAE load balancing, already weighted (adapters.moe.loss_weight)
                    loss = loss + auxiliary
                if any_rank(not bool(torch.isfinite(loss)), info):
                    bar.close()
                    raise NonFiniteLossError(epoch, step, float(loss.detach()))
                (loss / grad_accum).backward()
            batch_loss = float(loss.detach()) * labels.shape[0]
            batch_correct = float((logits.detach().argmax(dim=1) == labels).sum())
            loss_sum += batch_loss
            correct += batch_correct
            count += labels.shape[0]
            if domain is not None:
                sums = per_domain[domain]
                sums[0] += batch_loss
                sums[1] += batch_correct
                sums[2] += labels.shape[0]
        if clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        elapsed = time.perf_counter() - start
        bar.set_postfix_str(f"loss {loss_sum / count:.4f} lr {lr_text} {count * info.world_size / elapsed:.1f} clips/s")
        bar.update(1)
    bar.close()
    names = list(per_domain)
    flat = all_reduce_sum([loss_sum, correct, count, *[v for n in names for v in per_domain[n]]], info)
    loss_sum, correct, count = flat[:3]
    domain_stats = {}
    for i, name in enumerate(names):
        d_loss, d_correct, d_count = flat[3 + 3 * i: 6 + 3 * i]
        domain_stats[name] = {"loss": d_loss / d_count if d_count else float("nan"),
                              "accuracy": 100.0 * d_correct / d_count if d_count else float("nan"),
                              "clips": int(d_count)}
    seconds = time.perf_counter() - start
    return EpochStats(loss_sum / count, 100.0 * correct / count, int(count), steps, seconds, domain_stats)


def _batch_domain(batch, domains: list[str] | None) -> str | None:
    """The domain name of a co-training batch (every sample of a batch comes from one domain)."""
    if domains is None or len(batch) < 3:
        return None
    ids = torch.as_tensor(batch[2])
    first = int(ids.reshape(-1)[0])
    if bool((ids != first).any()):
        raise RuntimeError("a co-training batch mixes domains; each batch must come from one domain "
                           "(use peclip.data.cotrain.DomainBatchSampler)")
    return domains[first]


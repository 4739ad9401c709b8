"""The training loop as a plain function: device, autocast, mixing, losses, DDP details.

The model never moves itself; this function puts batches on ``device`` and runs the forward under
autocast (bf16 on CUDA when asked, fp32 otherwise). The loss is cross-entropy with Mixup/FMix chosen
per batch (docs/spec.md 2.8), plus the MoAE routers' weighted load-balancing loss when the model has
them (docs/stills.md); training accuracy is measured against the un-mixed targets (labelled clips only).
Caption training (docs/text-supervision.md) adds, or uses alone, the symmetric contrastive loss
:class:`CaptionContrastiveLoss` between clips and their captions over the global batch. A co-training
loader yields ``(inputs, labels, domain)`` batches of one domain each (videos, or the stills of one
static set); loss and accuracy are then also kept per domain. Every random
draw of an epoch (mixing) comes from a generator seeded by ``(seed, epoch, rank)``, so an epoch is the
same whether or not the run was interrupted before it.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from peclip.data.mixing import mix_batch, mixed_cross_entropy
from peclip.distributed import DistInfo, all_reduce_sum, any_rank, gather_with_local_grad
from peclip.model import PEClip
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


def symmetric_infonce(videos: torch.Tensor, captions: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: clip ``i`` belongs with caption ``i`` of the batch.

    ``videos`` and ``captions`` are L2-normalised ``(N, E)``; with ``S = scale * videos @ captions.T``
    ``(N, N)``, the loss is ``(CE(S, arange N) + CE(S.T, arange N)) / 2``: each clip picks its caption
    among the batch's, and each caption its clip.
    """
    if videos.shape != captions.shape or videos.dim() != 2:
        raise ValueError(f"expected matching (N, E) embeddings, got {tuple(videos.shape)} and {tuple(captions.shape)}")
    sims = scale * videos @ captions.T  # (N, N)
    targets = torch.arange(sims.shape[0], device=sims.device)
    return 0.5 * (F.cross_entropy(sims, targets) + F.cross_entropy(sims.T, targets))


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``factor`` in backward."""

    @staticmethod
    def forward(ctx, x, factor: float):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


class CaptionContrastiveLoss(nn.Module):
    """The video-caption loss of caption training (FineCLIPER; docs/text-supervision.md):
    :func:`symmetric_infonce` over the global batch with scale ``1 / temperature``.

    The scale is learnable (CLIP's ``logit_scale``: stored as its log, clamped at ``max_scale``) or
    fixed. It belongs to the loss, not the model: the optimizer trains it as its own group and the
    training state of a checkpoint keeps it; prediction never needs it.

    Under DDP each rank gathers every rank's embeddings (its own shard keeps its gradient,
    :func:`~peclip.distributed.gather_with_local_grad`) and computes the loss of the whole global batch,
    the same value on every rank and the same as one process with the whole batch. The second value
    returned is what to backpropagate: the loss times the world size W, because DDP averages gradients
    over ranks while each embedding's gradient arrives on one rank only; the scale's gradient, which
    every rank computes in full, is divided by W again, so it too is exact.
    """

    def __init__(self, temperature: float = 0.07, learnable: bool = True, max_scale: float = 100.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"caption temperature {temperature!r} must be > 0")
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self.max_scale = float(max_scale)

    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)

    def forward(self, videos: torch.Tensor, captions: torch.Tensor,
                dist_info: DistInfo | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, loss to backpropagate)`` for this rank's ``(B, E)`` clip and caption embeddings."""
        world = dist_info.world_size if dist_info is not None else 1
        all_videos = gather_with_local_grad(videos, dist_info)  # (W*B, E)
        all_captions = gather_with_local_grad(captions, dist_info)  # (W*B, E)
        scale = self.scale()
        if world > 1 and self.log_scale.requires_grad:
            scale = _ScaleGrad.apply(scale, 1.0 / world)
        loss = symmetric_infonce(all_videos, all_captions, scale)
        return loss, loss * world


@dataclass
class EpochStats:
    """One training epoch over all processes: mean loss, accuracy (un-mixed targets of labelled clips;
    NaN when no clip has a label), throughput; with caption training the mean contrastive loss too."""

    loss: float
    accuracy: float  # percent
    clips: int
    steps: int
    seconds: float
    caption_loss: float | None = None
    #: per domain (co-training): name -> {"loss", "accuracy", "clips"}; empty for a single-domain loader
    domains: dict = field(default_factory=dict)

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds if self.seconds > 0 else float("nan")


def train_one_epoch(model: nn.Module, loader, optimizer: torch.optim.Optimizer, *, epoch: int,
                    device: torch.device, precision: str = "fp32", mix_cfg=None, seed: int = 0,
                    grad_accum: int = 1, clip_grad_norm: float | None = None, max_steps: int | None = None,
                    dist_info: DistInfo | None = None, progress: bool = True,
                    caption_loss: CaptionContrastiveLoss | None = None, caption_weight: float = 1.0,
                    classification_weight: float = 1.0, domains: list[str] | None = None,
                    distiller=None) -> EpochStats:
    """Train ``model`` for one epoch of ``loader`` (micro-batches of ``(video (B, T, 3, H, W), label (B,))``,
    or of stills ``(B, 3, H, W)``; ``(video, label, captions)`` with caption training).

    One optimizer step per ``grad_accum`` micro-batches (leftover micro-batches at the end are not
    used). ``mix_cfg`` (a DataConfig) turns on Mixup/FMix; ``None`` trains on plain batches. Under DDP
    gradients are synchronised on the last micro-batch of each step only. With ``domains`` (names by
    domain index) the loader yields ``(inputs, labels, domain)`` and the stats are also kept per domain.
    ``distiller`` (:class:`peclip.train.distill.Distiller`) replaces the classification loss by the
    distillation loss; batches may then carry cached teacher logits as a third element.

    The loss is ``classification_weight * CE + caption_weight * caption_loss`` (each term only when
    its weight is > 0 / the loss is given): ``classification_weight=0`` with a ``caption_loss`` trains
    on captions alone, without labels.
    """
    if caption_loss is None and not classification_weight > 0:
        raise ValueError("nothing to train on: classification_weight is 0 and there is no caption loss")
    if distiller is not None and (caption_loss is not None or domains is not None):
        raise ValueError("distillation cannot be combined with caption training or co-training in one run (each "
                         "uses the third field of a batch); turn one of them off")
    if caption_loss is not None and domains is not None:
        raise ValueError("caption training and co-training cannot be combined in one run (train.captions and "
                         "cotrain both use the third field of a batch); turn one of them off")
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
    loss_sum = correct = count = labelled = caption_sum = 0.0
    per_domain = {name: [0.0, 0.0, 0.0] for name in domains or ()}  # loss sum, correct, count
    start = time.perf_counter()
    batches = iter(loader)
    optimizer.zero_grad(set_to_none=True)
    for step in range(steps):
        for micro in range(grad_accum):
            batch = next(batches)
            videos, labels = batch[0], batch[1]
            captions = list(batch[2]) if caption_loss is not None else None  # (B,) texts
            domain = _batch_domain(batch, domains)
            cached = batch[2] if distiller is not None and len(batch) > 2 else None  # (B, C) teacher logits
            videos = videos.to(device, non_blocking=True)
            labels = torch.as_tensor(labels).to(device, non_blocking=True)
            mixed = mix_batch(videos, labels, rng, mix_cfg) if mix_cfg is not None else None
            sync = micro == grad_accum - 1 or not hasattr(model, "no_sync")
            with contextlib.nullcontext() if sync else model.no_sync():  # backward must run inside no_sync
                with autocast(device, precision):
                    inputs = mixed.videos if mixed is not None else videos
                    if isinstance(unwrap(model), PEClip):
                        out = model(inputs, captions, return_outputs=True)
                        logits, loss_logits = out.logits.float(), out.loss_logits.float()  # (B, C); (B, 2C) PN
                    else:  # a light model (peclip.light): logits only
                        out, logits = None, model(inputs).float()  # (B, C)
                        loss_logits = logits
                loss = backward = torch.zeros((), device=logits.device)
                if distiller is not None:
                    loss = backward = distiller.loss(logits, labels, inputs, mixed, cached)
                elif classification_weight > 0:
                    ce = (mixed_cross_entropy(loss_logits, mixed) if mixed is not None
                          else F.cross_entropy(loss_logits, labels))
                    loss = backward = classification_weight * ce
                if caption_loss is not None:
                    contrastive, contrastive_backward = caption_loss(out.videos.float(), out.captions.float(), info)
                    loss = loss + caption_weight * contrastive
                    backward = backward + caption_weight * contrastive_backward
                    caption_sum += float(contrastive.detach()) * labels.shape[0]
                auxiliary = getattr(unwrap(model), "auxiliary_loss", lambda: None)()
                if auxiliary is not None:  # MoAE load balancing, already weighted (adapters.moe.loss_weight)
                    loss = loss + auxiliary
                    backward = backward + auxiliary
                if any_rank(not bool(torch.isfinite(loss)), info):
                    bar.close()
                    raise NonFiniteLossError(epoch, step, float(loss.detach()))
                (backward / grad_accum).backward()
            batch_loss = float(loss.detach()) * labels.shape[0]
            has_label = labels >= 0
            batch_correct = float(((logits.detach().argmax(dim=1) == labels) & has_label).sum())
            loss_sum += batch_loss
            correct += batch_correct
            labelled += float(has_label.sum())
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
    flat = all_reduce_sum([loss_sum, correct, count, labelled, caption_sum,
                           *[v for n in names for v in per_domain[n]]], info)
    loss_sum, correct, count, labelled, caption_sum = flat[:5]
    domain_stats = {}
    for i, name in enumerate(names):
        d_loss, d_correct, d_count = flat[5 + 3 * i: 8 + 3 * i]
        domain_stats[name] = {"loss": d_loss / d_count if d_count else float("nan"),
                              "accuracy": 100.0 * d_correct / d_count if d_count else float("nan"),
                              "clips": int(d_count)}
    seconds = time.perf_counter() - start
    accuracy = 100.0 * correct / labelled if labelled else float("nan")
    return EpochStats(loss_sum / count, accuracy, int(count), steps, seconds,
                      caption_sum / count if caption_loss is not None else None, domain_stats)


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


"""Per-epoch learning-rate schedules as pure functions of the epoch (docs/spec.md 3.1, 3.2).

The official scripts step their scheduler once per epoch, *after* training and evaluation. We
compute the learning rate each epoch runs at directly from the epoch number, so a resumed run needs
no scheduler state beyond the epoch and any epoch's rate can be checked against docs/spec.md's table.

``cosine`` reproduces ``timm.scheduler.CosineLRScheduler(t_initial, warmup_t, warmup_lr_init,
lr_min=0, warmup_prefix=False, cycle_limit=1)`` as ``FERPAmainmxp.py`` drives it: construction sets
every group to ``warmup_lr_init`` (epoch 0), and ``step(e)`` after epoch ``e`` sets the rate of
epoch ``e + 1`` to ``timm_lr(e)``. With ``warmup_prefix=False`` the cosine is evaluated at ``t``
itself after warm-up, so the nominal peak is never reached exactly.

``step`` is ``torch.optim.lr_scheduler.StepLR(step_size, gamma)`` stepped once per epoch (AFEW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("cosine", "step", "constant")


@dataclass
class ScheduleConfig:
    """Which schedule, and its parameters (defaults: docs/spec.md 3.1)."""

    name: str = "cosine"
    t_initial: int = 30  # cosine horizon in epochs (hard-coded 30 in the official script)
    warmup_epochs: int = 3  # timm warmup_t
    warmup_lr_init: float = 2e-5
    lr_min: float = 0.0
    step_size: int = 8  # StepLR (AFEW)
    gamma: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"train.schedule.name={self.name!r} is not valid; choose one of {', '.join(SCHEDULES)}")
        for key in ("t_initial", "step_size"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"train.schedule.{key}={value!r} must be a positive integer")
        if not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"train.schedule.warmup_epochs={self.warmup_epochs!r} must be an integer >= 0")
        for key in ("warmup_lr_init", "lr_min", "gamma"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"train.schedule.{key}={value!r} must be a number >= 0")


def timm_cosine_lr(t: int, base_lr: float, cfg: ScheduleConfig) -> float:
    """``CosineLRScheduler._get_lr(t)`` for one group (timm 0.9-1.0 semantics, one cycle, no k-decay)."""
    if t < cfg.warmup_epochs:
        return cfg.warmup_lr_init + t * (base_lr - cfg.warmup_lr_init) / cfg.warmup_epochs
    if t >= cfg.t_initial:  # past the single cycle (cycle_limit=1)
        return cfg.lr_min
    return cfg.lr_min + 0.5 * (base_lr - cfg.lr_min) * (1 + math.cos(math.pi * t / cfg.t_initial))


def lr_at_epoch(epoch: int, base_lr: float, cfg: ScheduleConfig) -> float:
    """The learning rate that epoch ``epoch`` (0-based) trains at, for a group whose nominal rate is ``base_lr``."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if cfg.name == "constant":
        return base_lr
    if cfg.name == "step":
        return base_lr * cfg.gamma ** (epoch // cfg.step_size)
    # cosine: epoch 0 runs at warmup_lr_init (set at construction); epoch e >= 1 at _get_lr(e - 1).
    if epoch == 0 and cfg.warmup_epochs > 0:
        return cfg.warmup_lr_init
    return timm_cosine_lr(max(epoch - 1, 0), base_lr, cfg)


def set_epoch_lr(optimizer, epoch: int, cfg: ScheduleConfig) -> list[float]:
    """Set every param group's ``lr`` for ``epoch`` from its ``initial_lr``; returns the rates."""
    rates = []
    for group in optimizer.param_groups:
        group["lr"] = lr_at_epoch(epoch, group["initial_lr"], cfg)
        rates.append(group["lr"])
    return rates

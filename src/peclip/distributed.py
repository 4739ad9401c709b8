"""Multi-process training through ``torchrun``: process group, device, samplers, gathering results.

``torchrun --nproc_per_node N -m peclip.cli train ...`` (or ``--nnodes`` for several machines) sets
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` reads them and joins the process group
(NCCL on CUDA, Gloo on CPU). Without them everything runs in one process with no process group.
Rank 0 is the only process that writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # True when setup() created the process group (cleanup() destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer (set by torchrun)") from None


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto``: ``cuda:<local_rank>`` when CUDA is available, else CPU; ``cuda`` / ``cuda:N`` / ``cpu`` as asked."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"train.device={preference!r} but CUDA is not available here; use device=cpu or auto")
        if preference == "cuda":
            return torch.device("cuda", local_rank)
    return torch.device(preference)


def setup(device: str = "auto") -> DistInfo:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (idempotent); pick this process's device."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world <= 1:
        return DistInfo(device=dev)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        owns = True
        log.info("joined process group: rank %d of %d (%s, %s)", rank, world, backend, dev)
    return DistInfo(rank, world, local_rank, dev, owns)


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_gather_objects(obj, info: DistInfo) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` without a process group)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64)."""
    if not info.enabled:
        return list(values)
    backend_device = info.device if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_with_local_grad(x: torch.Tensor, info: DistInfo | None) -> torch.Tensor:
    """Every rank's ``x`` ``(B, ...)`` concatenated in rank order, ``(W*B, ...)``; only this rank's own
    shard carries a gradient (the others are copies). Every rank must pass the same shape.

    The contrastive caption loss (peclip.train.engine) compares each clip with the captions of the whole
    global batch. Each rank computes that loss in full; since each embedding is live on exactly one rank,
    the gradients summed over ranks are the full batch's, which DDP's averaging divides by W (the
    engine multiplies the loss it backpropagates by W).
    """
    if info is None or not info.enabled:
        return x
    backend_device = x.device if dist.get_backend() == "nccl" else torch.device("cpu")
    local = x.detach().to(backend_device).contiguous()
    parts = [torch.empty_like(local) for _ in range(info.world_size)]
    dist.all_gather(parts, local)
    parts = [p.to(x.device) for p in parts]
    parts[info.rank] = x  # the local shard keeps its graph
    return torch.cat(parts)


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    return all_reduce_sum([float(flag)], info)[0] > 0


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn, info: DistInfo):
    """``fn()`` run on rank 0 only, its result sent to every rank. An error on rank 0 is raised on every
    rank (instead of leaving the others waiting for a result that never comes)."""
    if not info.enabled:
        return fn()
    box = None
    if info.is_main:
        try:
            box = ("ok", fn())
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            box = ("error", err)
    kind, value = broadcast_object(box, info)
    if kind == "error":
        if info.is_main:
            raise value
        raise RuntimeError(f"rank 0 failed: {value}")
    return value


class ShardSampler(Sampler[int]):
    """Evaluation sampler: rank ``r`` gets indices ``r, r + W, r + 2W, ...`` in order, without padding.

    Unlike ``DistributedSampler`` it adds no duplicate samples, so gathering the shards gives each
    sample exactly once and UAR/WAR over all ranks are exact.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1):
        self.length, self.rank, self.world_size = length, rank, world_size

    def indices(self) -> list[int]:
        return list(range(self.rank, self.length, self.world_size))

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())

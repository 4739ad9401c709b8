"""Co-training data: several datasets (one video set and static sets) in one epoch, one domain per batch.

S4D (arXiv 2409.06154) trains a video model with static facial expression data beside the videos:
each step takes a batch from one source, and each source's number of batches per epoch is its size
times a *repeat factor* (S4D: 1.0 for the videos, 0.5 for the static set), the steps of all sources
shuffled together (its ``ConcatDataset`` with the ``use_one`` batching strategy). This module does the
same with one index space:

- :class:`DomainDataset` concatenates the datasets; item ``g`` is ``(input, label, domain index)``;
- :class:`DomainBatchSampler` draws, per epoch, ``round(repeat * size)`` samples of each domain
  (whole shuffled passes, then part of one more; or, for a domain balanced by class, independent
  draws that give every class the same chance, S4D's imbalance-aware sampler for AffectNet), cuts
  them into global batches of one domain (one optimizer step each), shuffles the batches of all
  domains together and gives each process its slice of every batch, so that in each step every
  process trains on the same domain (DDP stays in step, and a model with separate heads uses the
  same head on every process).

A global batch holds ``batch_size x world_size x grad_accum`` samples: each process's slice is cut
into ``grad_accum`` micro-batches. So an optimizer step trains on the same samples however it is
split between processes and gradient accumulation (1 process accumulating 2 micro-batches of 2
computes exactly what 2 processes with 2 each do), and never mixes domains.

Every draw is a function of ``(seed, epoch)``: an epoch is the same whether or not the run was
interrupted before it.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import DataLoader, Dataset, Sampler

from peclip.data.manifest import ClipItem

log = logging.getLogger(__name__)


class DomainDataset(Dataset):
    """The concatenation of ``datasets``; item ``g`` is ``(input, label, domain)`` with ``domain`` the
    index of the dataset it comes from (``names[domain]`` names it)."""

    def __init__(self, datasets: Sequence[Dataset], names: Sequence[str]):
        if len(datasets) != len(names) or not datasets:
            raise ValueError(f"need one name per dataset (got {len(datasets)} datasets, {len(names)} names)")
        if len(set(names)) != len(names):
            raise ValueError(f"domain names must differ, got {list(names)}")
        self.datasets = list(datasets)
        self.names = list(names)
        self.offsets = np.cumsum([0, *[len(d) for d in self.datasets]]).tolist()  # (D+1,)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def sizes(self) -> list[int]:
        return [len(d) for d in self.datasets]

    def locate(self, index: int) -> tuple[int, int]:
        """``(domain, index within its dataset)`` of global item ``index``."""
        domain = bisect.bisect_right(self.offsets, int(index)) - 1
        return domain, int(index) - int(self.offsets[domain])

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def __getitem__(self, index: int):
        domain, local = self.locate(index)
        sample = self.datasets[domain][local]
        return sample[0], sample[1], domain


def domain_quota(size: int, repeat: float) -> int:
    """Samples a domain gives per epoch: ``round(repeat * size)``."""
    return int(round(repeat * size))


def class_balanced_weights(labels: Sequence[int]) -> np.ndarray:
    """Per-sample draw probabilities ``(N,)`` that give each class present the same total,
    ``1 / (K * count of its class)``: S4D's imbalance-aware sampler (its ``ImbalancedDatasetSampler``,
    weights ``1 / class count``) for AffectNet."""
    labels = np.asarray(labels, dtype=np.int64)  # (N,)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"class balancing needs one label per sample, got an array of shape {labels.shape}")
    if (labels < 0).any():
        raise ValueError(f"class balancing needs labelled samples; {int((labels < 0).sum())} have no label")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / (len(classes) * counts[inverse])  # (N,), sums to 1


class DomainBatchSampler(Sampler[list[int]]):
    """Batches of one domain each, ``repeat[d] * sizes[d]`` samples of domain ``d`` per epoch (see the
    module docstring). ``batch_size`` is per process and micro-batch; a global batch (one optimizer
    step) holds ``batch_size * world_size * grad_accum`` samples, and the last incomplete global
    batch of each domain is dropped.

    ``labels[d]`` (the class of each sample of domain ``d``, or None) balances that domain by class:
    its ``round(repeat * size)`` samples are then drawn independently with replacement, each class
    with the same chance (:func:`class_balanced_weights`), as S4D samples AffectNet; its share of the
    epoch stays ``repeat * size``. Domains without labels are drawn by whole shuffled passes."""

    def __init__(self, sizes: Sequence[int], repeats: Sequence[float], batch_size: int, *, seed: int = 0,
                 rank: int = 0, world_size: int = 1, names: Sequence[str] | None = None, grad_accum: int = 1,
                 labels: Sequence[Sequence[int] | None] | None = None):
        if len(sizes) != len(repeats):
            raise ValueError(f"one repeat factor per domain: {len(sizes)} domains, {len(repeats)} factors")
        if any(r <= 0 for r in repeats):
            raise ValueError(f"repeat factors must be > 0, got {list(repeats)}")
        if batch_size < 1 or world_size < 1 or grad_accum < 1 or not 0 <= rank < world_size:
            raise ValueError(f"bad batch_size={batch_size}, rank={rank}, world_size={world_size}, "
                             f"grad_accum={grad_accum}")
        self.sizes = [int(s) for s in sizes]
        self.repeats = [float(r) for r in repeats]
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, int(seed), rank, world_size
        self.grad_accum = int(grad_accum)
        self.names = list(names) if names is not None else [f"domain{d}" for d in range(len(sizes))]
        self.offsets = np.cumsum([0, *self.sizes]).tolist()
        labels = list(labels) if labels is not None else [None] * len(self.sizes)
        if len(labels) != len(self.sizes):
            raise ValueError(f"labels: one entry (a label list or None) per domain, got {len(labels)} for "
                             f"{len(self.sizes)} domains")
        self.weights: list[np.ndarray | None] = []  # per domain: class-balancing draw probabilities (N_d,)
        for d, domain_labels in enumerate(labels):
            if domain_labels is not None and len(domain_labels) != self.sizes[d]:
                raise ValueError(f"{self.names[d]}: {len(domain_labels)} labels for {self.sizes[d]} samples")
            self.weights.append(class_balanced_weights(domain_labels) if domain_labels is not None else None)
        self.epoch = 0
        for d, count in enumerate(self.batches_per_domain()):
            if count == 0:
                quota = domain_quota(self.sizes[d], self.repeats[d])
                raise ValueError(f"{self.names[d]} gives no batch per epoch: {quota} "
                                 f"samples (repeat {self.repeats[d]} x {self.sizes[d]}) for batches of "
                                 f"{self.global_batch}; raise its repeat factor or lower train.batch_size")

    @property
    def global_batch(self) -> int:
        """Samples per optimizer step over all processes and accumulated micro-batches."""
        return self.batch_size * self.world_size * self.grad_accum

    def batches_per_domain(self) -> list[int]:
        return [domain_quota(n, r) // self.global_batch for n, r in zip(self.sizes, self.repeats, strict=True)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Micro-batches this process gets per epoch (``grad_accum`` per optimizer step)."""
        return sum(self.batches_per_domain()) * self.grad_accum

    def global_batches(self) -> list[tuple[int, list[int]]]:
        """This epoch's ``(domain, global indices)`` batches, in training order (the same on every process)."""
        rng = np.random.default_rng([self.seed, self.epoch, 0x5D4])
        batches: list[tuple[int, list[int]]] = []
        for d, (size, repeat) in enumerate(zip(self.sizes, self.repeats, strict=True)):
            quota = domain_quota(size, repeat)
            if self.weights[d] is not None:  # balanced by class: independent draws, each class equally likely
                order = rng.choice(size, size=quota, replace=True, p=self.weights[d]) + self.offsets[d]
            else:
                passes = -(-quota // size)  # whole shuffled passes, the last one cut short
                order = np.concatenate([rng.permutation(size) for _ in range(passes)])[:quota] + self.offsets[d]
            for b in range(quota // self.global_batch):
                batches.append((d, order[b * self.global_batch:(b + 1) * self.global_batch].tolist()))
        shuffled = rng.permutation(len(batches))
        return [batches[i] for i in shuffled]

    def __iter__(self) -> Iterator[list[int]]:
        share = self.batch_size * self.grad_accum  # this process's part of a global batch
        for _, indices in self.global_batches():
            mine = indices[self.rank * share:(self.rank + 1) * share]
            for m in range(self.grad_accum):  # its micro-batches, in order
                yield mine[m * self.batch_size:(m + 1) * self.batch_size]


def build_domain_loader(dataset: DomainDataset, sampler: DomainBatchSampler, num_workers: int = 0,
                        pin_memory: bool = False) -> DataLoader:
    """The co-training loader: ``sampler``'s one-domain batches of ``dataset`` (call
    :func:`peclip.data.dataset.set_loader_epoch` each epoch)."""
    import torch

    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory and torch.cuda.is_available(), persistent_workers=num_workers > 0)


def remap_to_classes(items: list[ClipItem], source: Sequence[str], target: Sequence[str], name: str) -> list[ClipItem]:
    """Items labelled by the class list ``source`` relabelled onto ``target`` by class name (a static
    set's label set onto the model's classes); items whose class ``target`` lacks are left out (logged)."""
    if list(source) == list(target):
        return list(items)
    position = {c: i for i, c in enumerate(target)}
    kept, left_out = [], Counter()
    for item in items:
        cls = source[item.label] if 0 <= item.label < len(source) else None
        if cls in position:
            kept.append(dataclasses.replace(item, label=position[cls]))
        else:
            left_out[cls] += 1
    if left_out:
        log.info("%s: %d image(s) of classes the model lacks are left out (%s)", name, sum(left_out.values()),
                 ", ".join(f"{c}: {n}" for c, n in left_out.items()))
    if not kept:
        raise ValueError(f"{name}: none of its classes ({', '.join(source)}) is a class of the model "
                         f"({', '.join(target)})")
    return kept

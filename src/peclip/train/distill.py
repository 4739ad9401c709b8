"""Knowledge distillation: train any model against a trained teacher's soft labels (docs/light.md).

``train.distill.teacher=RUN`` (a run or checkpoint folder) turns it on. The loss of a batch is

    ce_weight * CE(student, labels) + kl_weight * tau^2 * KL(softmax(teacher / tau) || softmax(student / tau))

(Hinton et al. 2015; the ``tau^2`` keeps the soft term's gradients on the scale of the hard term's).
With Mixup/FMix the hard term is the mixed cross-entropy and the teacher sees the mixed clip.

The teacher sees the same clips as the student: the same frames, resized to its own input size when it
differs. Its logits are computed **once per clip and cached** (``teacher_logits.safetensors`` in the
run folder, so a resumed run reads them back) when the training clips are the same every epoch: no
augmentation, no mixing, and frame sampling without randomness (CSIM, or TSN where no clip has
``2 T`` frames or more, which leaves TSN no choice). Otherwise they are computed on the fly. Under DDP
every process runs its own copy of the teacher on its own batches; the cache is written by the main
process and read by all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Dataset

from peclip import distributed
from peclip.atomic import atomic_write
from peclip.checkpoint import load
from peclip.data.dataset import ClipDataset
from peclip.data.mixing import MixedBatch, mixed_cross_entropy
from peclip.precision import autocast
from peclip.validation import check_choice, check_number

log = logging.getLogger(__name__)

CACHE_FILE = "teacher_logits.safetensors"
CACHE_MODES = ("auto", "off")


@dataclass
class DistillConfig:
    """``train.distill``: the teacher and the weights of the two loss terms (off while ``teacher`` is unset).

    - ``teacher``: a trained run folder or checkpoint folder (its classes must be the student's).
    - ``temperature``: ``tau`` of the soft labels.
    - ``kl_weight`` / ``ce_weight``: weights of the soft (teacher) and hard (label) terms.
    - ``cache``: ``auto`` caches the teacher's logits when the training clips are deterministic;
      ``off`` always computes them on the fly.
    """

    teacher: str | None = None
    temperature: float = 4.0
    kl_weight: float = 0.9
    ce_weight: float = 0.1
    cache: str = "auto"

    def __post_init__(self) -> None:
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise ValueError(f"train.distill.teacher={self.teacher!r} must be a run or checkpoint folder")
        self.temperature = check_number("train.distill", "temperature", self.temperature)
        if self.temperature <= 0:
            raise ValueError(f"train.distill.temperature={self.temperature!r} must be > 0 (e.g. 4)")
        self.kl_weight = check_number("train.distill", "kl_weight", self.kl_weight)
        self.ce_weight = check_number("train.distill", "ce_weight", self.ce_weight)
        if self.kl_weight + self.ce_weight <= 0:
            raise ValueError("train.distill.kl_weight + ce_weight must be > 0")
        check_choice("train.distill", "cache", self.cache, CACHE_MODES)

    @property
    def enabled(self) -> bool:
        return self.teacher is not None


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, cfg: DistillConfig,
                      mixed: MixedBatch | None = None) -> torch.Tensor:
    """The weighted sum of the hard-label cross-entropy and the tempered KL to the teacher (both ``(B, C)``)."""
    hard = mixed_cross_entropy(student, mixed) if mixed is not None else F.cross_entropy(student, labels)
    tau = cfg.temperature
    soft = F.kl_div(F.log_softmax(student / tau, dim=-1), F.log_softmax(teacher.float() / tau, dim=-1),
                    reduction="batchmean", log_target=True) * tau * tau
    return cfg.ce_weight * hard + cfg.kl_weight * soft


class Teacher:
    """A trained model, frozen, in eval mode, that gives logits for the student's clips."""

    def __init__(self, cfg: DistillConfig, student, device: torch.device, precision: str = "fp32"):
        self.cfg = cfg
        self.model = load(cfg.teacher, map_location="cpu").to(device).eval()
        self.model.requires_grad_(False)
        self.device, self.precision = device, precision
        if list(self.model.class_names) != list(student.class_names):
            raise ValueError(f"teacher {cfg.teacher} has classes {self.model.class_names} but the student has "
                             f"{student.class_names}; distillation needs the same classes in the same order")
        t_frames, s_frames = self.model.preprocess.num_frames, student.preprocess.num_frames
        if t_frames != s_frames:
            raise ValueError(f"teacher {cfg.teacher} takes {t_frames} frames per clip, the student {s_frames}; build "
                             f"the student with --set model.overrides.num_frames={t_frames}")
        self.size = self.model.preprocess.size
        log.info("distilling from %s (%s, tau %g, weights KL %g / CE %g)", cfg.teacher, self.model.config.name,
                 cfg.temperature, cfg.kl_weight, cfg.ce_weight)

    @torch.no_grad()
    def logits(self, videos: torch.Tensor) -> torch.Tensor:
        """Teacher logits ``(B, C)`` (float32) for the student's clips ``(B, T, 3, S, S)``."""
        videos = videos.to(self.device)
        if tuple(videos.shape[-2:]) != (self.size, self.size):
            b, t = videos.shape[:2]
            frames = F.interpolate(videos.flatten(0, 1), size=(self.size, self.size), mode="bilinear",
                                   antialias=True, align_corners=False)  # (B*T, 3, S_teacher, S_teacher)
            videos = frames.view(b, t, *frames.shape[1:])  # (B, T, 3, S_teacher, S_teacher)
        with autocast(self.device, self.precision):
            return self.model(videos).float()


class Distiller:
    """What the engine calls: the loss of a batch, from cached teacher logits or the teacher on the fly."""

    def __init__(self, teacher: Teacher):
        self.teacher = teacher

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor, mixed: MixedBatch | None,
             cached: torch.Tensor | None) -> torch.Tensor:
        soft = cached if cached is not None and mixed is None else self.teacher.logits(inputs)
        return distillation_loss(logits, soft.to(logits.device), labels, self.teacher.cfg, mixed)


class WithTeacherLogits(Dataset):
    """A training dataset whose samples carry their cached teacher logits: ``(clip, label, logits (C,))``."""

    def __init__(self, dataset: ClipDataset, logits: torch.Tensor):
        if len(dataset) != logits.shape[0]:
            raise ValueError(f"the teacher-logit cache has {logits.shape[0]} rows for {len(dataset)} training "
                             f"clips; delete {CACHE_FILE} in the run folder to recompute it")
        self.dataset, self.logits = dataset, logits
        self.cfg = dataset.cfg  # the loader reads its workers and pinning from it

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int):
        clip, label = self.dataset[index]
        return clip, label, self.logits[index]


def clips_are_deterministic(dataset: ClipDataset, mixing: bool) -> tuple[bool, str]:
    """Whether every epoch yields the same clip for each index, and why not when it does not."""
    cfg = dataset.cfg
    if mixing:
        return False, "Mixup/FMix change the clips every batch"
    if cfg.augment != "none":
        return False, f"augmentation {cfg.augment!r} draws new parameters every epoch"
    if cfg.sampling == "csim":
        return True, ""
    # TSN training draws one offset in [0, N // T) per segment: no choice when N < 2 T
    limit = 2 * cfg.num_frames
    if any(dataset.num_frames(item) >= limit for item in dataset.items):
        return False, f"TSN picks random frames in clips of {limit} frames or more"
    return True, ""


def teacher_cache(teacher: Teacher, dataset: ClipDataset, run_path: Path, info: distributed.DistInfo,
                  batch_size: int, progress: bool = False) -> torch.Tensor:
    """The teacher's logits for every training clip ``(N, C)``, read from the run folder or computed once
    (on the main process) and written there."""
    path = run_path / CACHE_FILE

    def compute() -> None:
        if path.is_file():
            return
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
        parts = [teacher.logits(videos).cpu() for videos, _ in loader]
        logits = torch.cat(parts)  # (N, C)
        atomic_write(path, lambda tmp: save_file({"logits": logits.contiguous()}, str(tmp)))
        log.info("teacher logits of %d training clips cached in %s", logits.shape[0], path)

    if info.is_main:
        compute()
    distributed.barrier(info)
    return load_file(str(path))["logits"]

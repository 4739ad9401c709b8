"""DataConfig: everything between files on disk and the ``(T, 3, S, S)`` clips, as one typed dataclass.

Defaults are PE-CLIP's faithful settings (SPEC.md 2.2, 2.3, 2.8, 10 A5, A7): 16 TSN frames of 224 px,
the dataset's own augmentation, no input normalisation, Mixup on 40 % and FMix on 30 % of batches.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

#: OpenAI CLIP's input mean/std (the values open_clip ships as OPENAI_DATASET_MEAN/STD). Used only with
#: ``normalize=True``; faithful PE-CLIP feeds [0, 1] pixels (SPEC.md 10 A7).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

SAMPLINGS = ("tsn", "csim")
AUGMENTS = ("dfew", "ferv39k", "afew", "mafw", "none")
ON_BAD = ("stop", "skip")
FRAME_ORDERS = ("natural", "lexicographic")


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"data.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


@dataclass
class DataConfig:
    """Where the data is and how clips are made from it.

    - ``dataset``: a spec name from :data:`peclip.data.specs.DATASETS` (``dfew``, ``ferv39k``, ``afew``,
      ``mafw``) or ``custom`` (your own manifest and label set).
    - ``root``: folder that the manifest's paths are relative to (the official annotation files'
      absolute prefixes are replaced by it, see :mod:`peclip.data.specs`).
    - ``manifest``: for a named dataset, the folder holding its annotation files (``DFEW_set_1_train.txt``
      ...) or one CSV/annotation file; for ``custom``, a CSV (``path,label[,split][,fold]``) or an
      annotation txt (``<folder> <num_frames> <label>``). ``test_manifest`` names a separate test file.
    - ``label_set``: ``basic7`` / ``mafw11`` (from :mod:`peclip.labels`); ``None`` takes the dataset's.
    - ``augment``: train-time augmentation recipe (SPEC.md 2.3); ``None`` takes the dataset's.
    - ``normalize``: ``False`` feeds [0, 1] pixels (faithful, SPEC.md 10 A7); ``True`` subtracts
      ``mean`` and divides by ``std`` (set them from the backbone's config; CLIP's by default).
    - ``sampling``: ``tsn`` (SPEC.md 2.2) or ``csim`` (frames where the face changes most).
    - ``remap_labels``: apply the dataset's label remapping (AFEW alphabetical -> DFEW order, SPEC.md
      10 A5); ``False`` reproduces the official code's mismatched labels.
    - ``frame_order``: ``natural`` sorts ``2.jpg`` before ``10.jpg``; ``lexicographic`` is the official
      ``glob`` + ``sort`` (the same for zero-padded names such as DFEW's).
    - ``on_bad``: what a scan that finds missing/unreadable clips, unknown labels or malformed lines
      does: ``stop`` (raise with the full report) or ``skip`` (drop them, write ``skipped_list``).
    """

    dataset: str = "custom"
    root: str | None = None
    manifest: str | None = None
    test_manifest: str | None = None
    strip_prefix: str | None = None
    label_set: str | None = None
    num_frames: int = 16
    image_size: int = 224
    sampling: str = "tsn"
    augment: str | None = None
    normalize: bool = False
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    mix_prob_mixup: float = 0.4
    mix_prob_fmix: float = 0.3
    mixup_alpha: float = 0.4
    mixup_lam_range: tuple[float, float] = (0.3, 0.7)
    fmix_alpha: float = 1.0
    fmix_decay_power: float = 3.0
    fold: int | None = None
    remap_labels: bool = True
    frame_order: str = "natural"
    on_bad: str = "stop"
    skipped_list: str | None = None
    num_workers: int = 4
    pin_memory: bool = True

    def __post_init__(self) -> None:
        from peclip.data.specs import DATASETS, get_dataset_spec
        from peclip.labels import LABEL_SETS

        self.dataset = str(self.dataset).lower()
        if self.dataset != "custom" and self.dataset not in DATASETS:
            raise ValueError(f"data.dataset={self.dataset!r} is not known; choose one of: custom, "
                             f"{', '.join(DATASETS)}")
        spec = None if self.dataset == "custom" else get_dataset_spec(self.dataset)
        if self.label_set is None:
            self.label_set = spec.label_set if spec else "basic7"
        if self.label_set not in LABEL_SETS:
            raise ValueError(f"data.label_set={self.label_set!r} is not known; choose one of: "
                             f"{', '.join(LABEL_SETS)}")
        if spec is not None and self.label_set != spec.label_set:
            raise ValueError(f"data.label_set={self.label_set!r} does not match dataset {self.dataset!r}, "
                             f"whose labels are {spec.label_set!r}; leave label_set unset or use {spec.label_set!r}")
        if self.augment is None:
            self.augment = spec.augment if spec else "dfew"
        _choice("augment", self.augment, AUGMENTS)
        _choice("sampling", self.sampling, SAMPLINGS)
        _choice("on_bad", self.on_bad, ON_BAD)
        _choice("frame_order", self.frame_order, FRAME_ORDERS)
        for name in ("num_frames", "image_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"data.{name}={value!r} must be a positive integer")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"data.num_workers={self.num_workers!r} must be an integer >= 0 (0 loads in "
                             "the main process)")
        self.mean = self._triple("mean", self.mean)
        self.std = self._triple("std", self.std)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"data.std={self.std!r} must be positive")
        for name in ("mix_prob_mixup", "mix_prob_fmix"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"data.{name}={value!r} must lie in [0, 1]")
        if self.mix_prob_mixup + self.mix_prob_fmix > 1.0 + 1e-9:
            raise ValueError(f"data.mix_prob_mixup + data.mix_prob_fmix = "
                             f"{self.mix_prob_mixup + self.mix_prob_fmix} exceeds 1; they are the shares of "
                             "batches mixed by each method (faithful: 0.4 and 0.3)")
        lo, hi = (float(v) for v in self.mixup_lam_range)
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"data.mixup_lam_range={self.mixup_lam_range!r} must be (low, high) with "
                             "0 <= low <= high <= 1 (faithful: (0.3, 0.7))")
        self.mixup_lam_range = (lo, hi)
        for name in ("mixup_alpha", "fmix_alpha", "fmix_decay_power"):
            if float(getattr(self, name)) <= 0:
                raise ValueError(f"data.{name}={getattr(self, name)!r} must be positive")
        if spec is not None and spec.folds:
            if self.fold is not None and self.fold not in spec.folds:
                raise ValueError(f"data.fold={self.fold!r} is not a fold of {self.dataset}; valid: "
                                 f"{', '.join(map(str, spec.folds))}")
        elif spec is not None and self.fold is not None:
            raise ValueError(f"data.fold={self.fold!r} given, but {self.dataset} has a fixed train/test "
                             "split and no folds; leave fold unset")

    @staticmethod
    def _triple(name: str, value: Any) -> tuple[float, float, float]:
        try:
            out = tuple(float(v) for v in value)
        except TypeError:
            raise ValueError(f"data.{name}={value!r} must be three numbers (R, G, B)") from None
        if len(out) != 3:
            raise ValueError(f"data.{name}={value!r} must be three numbers (R, G, B), got {len(out)}")
        return out  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataConfig:
        """Build from a plain dict (e.g. a recipe's ``data:`` section); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown data config keys: {', '.join(unknown)}; valid keys: "
                             f"{', '.join(sorted(known))}")
        return cls(**data)

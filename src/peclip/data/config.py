"""DataConfig: everything between files on disk and the ``(T, 3, S, S)`` clips, as one typed dataclass.

Defaults are PE-CLIP's faithful settings (docs/spec.md 2.2, 2.3, 2.8, 10 A5): TSN frame sampling, the
dataset's own augmentation, Mixup on 40 % and FMix on 30 % of batches. The number of frames per clip,
the frame size and the input normalisation belong to the model (``ModelConfig.num_frames``, the
backbone's input size, ``ModelConfig.normalize_input``): :meth:`DataConfig.for_model` fills them in,
and a value given here that differs from the model's is an error naming both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from peclip.data.specs import DATASETS, get_dataset_spec
from peclip.data.stills import STILL_SETS, get_still_set
from peclip.labels import LABEL_SETS
from peclip.validation import check_choice, check_number, check_positive_int, from_dict

SAMPLINGS = ("tsn", "csim")
AUGMENTS = ("dfew", "ferv39k", "afew", "mafw", "shuffvit", "none")
ON_BAD = ("stop", "skip")
FRAME_ORDERS = ("natural", "lexicographic")


@dataclass
class DataConfig:
    """Where the data is and how clips are made from it.

    - ``dataset``: a spec name from :data:`peclip.data.specs.DATASETS` (``dfew``, ``ferv39k``, ``afew``,
      ``mafw``), a still-image set from :data:`peclip.data.stills.STILL_SETS` (``rafdb``, ``affectnet7``,
      ``affectnet8``, ``fer2013``, ``ferplus``, ``kdef``, ``sfew``, ``folders``; docs/stills.md) or
      ``custom`` (your own manifest and label set).
    - ``root``: folder that the manifest's paths are relative to (the official annotation files'
      absolute prefixes are replaced by it, see :mod:`peclip.data.specs`).
    - ``manifest``: for a named dataset, the folder holding its annotation files (``DFEW_set_1_train.txt``
      ...) or one CSV/annotation file; for ``custom``, a CSV (``path,label[,split][,fold]``) or an
      annotation txt (``<folder> <num_frames> <label>``). ``test_manifest`` names a separate test file.
    - ``label_set``: ``basic7`` / ``mafw11`` (from :mod:`peclip.labels`); ``None`` takes the dataset's.
    - ``augment``: train-time augmentation recipe (docs/spec.md 2.3); ``None`` takes the dataset's.
    - ``num_frames``, ``image_size``: ``None`` (the default) takes the model's; a value that differs from
      the model's is refused when the data meets the model (:meth:`for_model`).
    - ``sampling``: ``tsn`` (docs/spec.md 2.2) or ``csim`` (frames where the face changes most).
    - ``remap_labels``: apply the dataset's label remapping (AFEW alphabetical -> DFEW order, docs/spec.md
      10 A5); ``False`` reproduces the official code's mismatched labels.
    - ``frame_order``: ``natural`` sorts ``2.jpg`` before ``10.jpg``; ``lexicographic`` is the official
      ``glob`` + ``sort`` (the same for zero-padded names such as DFEW's).
    - ``captions``: a sidecar JSON ``{clip path relative to the root: caption}`` for caption training
      (docs/text-supervision.md); a CSV manifest may carry a ``caption`` column instead.
    - ``on_bad``: what a scan that finds missing/unreadable clips, unknown labels or malformed lines
      does: ``stop`` (raise with the full report) or ``skip`` (drop them, write ``skipped_list``).
    """

    dataset: str = "custom"
    root: str | None = None
    manifest: str | None = None
    test_manifest: str | None = None
    captions: str | None = None
    strip_prefix: str | None = None
    label_set: str | None = None
    num_frames: int | None = None
    image_size: int | None = None
    sampling: str = "tsn"
    augment: str | None = None
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
        self.dataset = str(self.dataset).lower()
        if self.dataset != "custom" and self.dataset not in DATASETS and self.dataset not in STILL_SETS:
            raise ValueError(f"data.dataset={self.dataset!r} is not known; choose one of: custom, "
                             f"{', '.join(DATASETS)} (videos), {', '.join(STILL_SETS)} (still images)")
        if self.dataset in STILL_SETS:
            still = get_still_set(self.dataset)
            self.label_set = self.label_set or still.label_set
            self.augment = self.augment or still.augment
        spec = None if self.dataset == "custom" or self.dataset in STILL_SETS else get_dataset_spec(self.dataset)
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
        check_choice("data", "augment", self.augment, AUGMENTS)
        check_choice("data", "sampling", self.sampling, SAMPLINGS)
        check_choice("data", "on_bad", self.on_bad, ON_BAD)
        check_choice("data", "frame_order", self.frame_order, FRAME_ORDERS)
        for name in ("num_frames", "image_size"):
            if getattr(self, name) is not None:
                check_positive_int("data", name, getattr(self, name))
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"data.num_workers={self.num_workers!r} must be an integer >= 0 (0 loads in "
                             "the main process)")
        for name in ("mix_prob_mixup", "mix_prob_fmix"):
            setattr(self, name, check_number("data", name, getattr(self, name), 0.0, 1.0))
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

    def for_model(self, preprocess) -> DataConfig:
        """This config with the model's frames per clip and frame size (``preprocess`` is
        ``model.preprocess``); a value set here that differs from the model's is an error naming both."""
        self.check_against(preprocess.num_frames, preprocess.size)
        return replace(self, num_frames=preprocess.num_frames, image_size=preprocess.size)

    def check_against(self, num_frames: int, image_size: int | None = None) -> None:
        """Refuse a frame count (or size) set here that differs from the model's, naming both values."""
        if self.num_frames is not None and self.num_frames != num_frames:
            raise ValueError(f"data.num_frames={self.num_frames} but the model takes {num_frames} frames per clip "
                             f"(model.num_frames); leave data.num_frames unset (the model's value is used) or "
                             f"build the model with {self.num_frames} (--set model.num_frames={self.num_frames})")
        if image_size is not None and self.image_size is not None and self.image_size != image_size:
            raise ValueError(f"data.image_size={self.image_size} but the model takes {image_size} px frames (its "
                             f"backbone's input size); leave data.image_size unset (the model's value is used)")

    def require_resolved(self, *names: str) -> None:
        """Clips can be made only once the model's frame count and size (``names``) are known."""
        missing = [n for n in names or ("num_frames", "image_size") if getattr(self, n) is None]
        if missing:
            raise ValueError(f"this DataConfig has no {'/'.join(missing)} yet; take them from the model with "
                             "cfg.for_model(model.preprocess) (or set them explicitly)")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataConfig:
        """Build from a plain dict (e.g. a recipe's ``data:`` section); unknown keys are an error."""
        return from_dict(cls, _migrate(dict(data or {})), "data")


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Input normalisation moved to the model (one home); run folders written before still load."""
    normalize = data.pop("normalize", None)
    mean, std = data.pop("mean", None), data.pop("std", None)
    if normalize:
        raise ValueError("data.normalize has moved to the model, which normalises its own input with its "
                         "backbone's mean/std: remove data.normalize/mean/std and set "
                         "model.normalize_input=true (recipe: model.overrides.normalize_input: true)")
    del mean, std  # only used with normalize=true; the model's backbone statistics replace them
    return data

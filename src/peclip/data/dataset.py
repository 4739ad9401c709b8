"""From manifest items to batches: :class:`ClipDataset`, :func:`build_dataloader`, :func:`load_dataset_items`.

A sample is ``(clip (T, 3, S, S) float32, label int)``: TSN indices (docs/spec.md 2.2) or CSIM indices,
decoded, then the clip-consistent transform (docs/spec.md 2.3). A dataset whose items are all still
images gives ``(image (3, S, S), label)`` samples instead: the model makes a still into what
``temporal.stills`` says (docs/stills.md), so an image is decoded and transformed once.
Every random draw of a sample comes from a generator seeded by ``(seed, epoch, index)``, so a sample
does not depend on the worker that loads it, the number of workers or the order of loading.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from peclip.data.captions import attach_captions, check_captions
from peclip.data.config import DataConfig
from peclip.data.csim_sampling import csim_frame_indices
from peclip.data.formats import IMAGE_SUFFIXES
from peclip.data.manifest import ClipItem, Problem, check_rows, read_annotation, read_manifest
from peclip.data.sampling import tsn_indices
from peclip.data.scan import ScanReport, root_hint, scan_items
from peclip.data.specs import get_dataset_spec
from peclip.data.stills import STILL_SETS, read_still_set
from peclip.data.transforms import build_transform
from peclip.data.video import count_frames, read_all_frames, read_frames, read_image
from peclip.labels import get_label_set

log = logging.getLogger(__name__)


class MissingSplitError(ValueError):
    """A manifest has no way to tell which clips belong to the split asked for."""


class ClipDataset(Dataset):
    """Clips of ``items`` as ``(clip, label)``; ``train`` picks random TSN offsets and the train transform.

    With ``captions`` a sample is ``(clip, label, caption)`` (caption training); every item must have one.

    Call :meth:`set_epoch` before each epoch so that training clips change from epoch to epoch; the
    epoch lives in shared memory, so persistent DataLoader workers see it.
    """

    def __init__(self, items: list[ClipItem], cfg: DataConfig, train: bool, seed: int = 0, captions: bool = False):
        if not items:
            raise ValueError("ClipDataset got no items; check the manifest and the split/fold asked for")
        cfg.require_resolved("num_frames", "image_size")
        if captions:
            check_captions(items, f"the data of {cfg.manifest}")
        self.captions = captions
        self.items = list(items)
        self.cfg = cfg
        self.train = train
        self.seed = int(seed)
        self.transform = build_transform(cfg, train)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._counts: dict[Path, int] = {}
        #: every item is a still image: samples are (3, S, S) images, not (T, 3, S, S) clips
        self.stills = all(Path(item.path).suffix.lower() in IMAGE_SUFFIXES for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    @property
    def labels(self) -> list[int]:
        return [item.label for item in self.items]

    def generators(self, index: int) -> tuple[np.random.Generator, torch.Generator]:
        """The sample's numpy generator (frame offsets) and torch generator (transform draws)."""
        seq = np.random.SeedSequence([self.seed, self.epoch, int(index), int(self.train)])
        rng = np.random.default_rng(seq)
        return rng, torch.Generator().manual_seed(int(rng.integers(2**62)))

    def num_frames(self, item: ClipItem) -> int:
        """Frames to sample from: the manifest's count when it states one, else the count on disk."""
        if item.num_frames is not None:
            return item.num_frames
        if item.path not in self._counts:
            self._counts[item.path] = count_frames(item.path, order=self.cfg.frame_order)
        return self._counts[item.path]

    def frame_indices(self, index: int, rng: np.random.Generator) -> list[int]:
        """TSN indices of sample ``index`` (docs/spec.md 2.2)."""
        return tsn_indices(self.num_frames(self.items[index]), self.cfg.num_frames, self.train, rng)

    def load_frames(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The ``(T, H, W, 3)`` uint8 frames of sample ``index`` before the transform."""
        item = self.items[index]
        if self.cfg.sampling == "csim":
            # CSIM looks at every frame, so the clip is decoded whole (only the stated frames count).
            frames = read_all_frames(item.path, order=self.cfg.frame_order)  # (N, H, W, 3)
            frames = frames[: self.num_frames(item)] if item.num_frames else frames
            return frames[csim_frame_indices(frames, self.cfg.num_frames)]  # (T, H, W, 3)
        return read_frames(item.path, self.frame_indices(index, rng), order=self.cfg.frame_order)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng, generator = self.generators(index)
        if self.stills:
            image = read_image(self.items[index].path)  # (1, H, W, 3)
            return self.transform(image, generator)[0], self.items[index].label  # (3, S, S)
        frames = self.load_frames(index, rng)
        clip = self.transform(frames, generator)  # (T, 3, S, S)
        if self.captions:
            return clip, self.items[index].label, self.items[index].caption
        return clip, self.items[index].label


def _fork_safe_opencv() -> None:
    """OpenCV calls in a forked process hang when the parent's OpenCV thread pool was in use; with one
    thread the pool is never touched. Only done when OpenCV is loaded (CSIM sampling uses it)."""
    cv2 = sys.modules.get("cv2")
    if cv2 is not None and cv2.getNumThreads() != 1:
        log.debug("setting OpenCV to one thread before forking DataLoader workers (was %d)", cv2.getNumThreads())
        cv2.setNumThreads(1)


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a loader's dataset and (distributed) sampler which epoch starts."""
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
    if hasattr(loader.batch_sampler, "set_epoch"):  # co-training's domain batch sampler
        loader.batch_sampler.set_epoch(epoch)
    sampler = loader.sampler if loader.batch_sampler is None else getattr(loader.batch_sampler, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def build_dataloader(dataset: ClipDataset, batch_size: int, train: bool, num_workers: int | None = None,
                     pin_memory: bool | None = None, sampler: Sampler | None = None, seed: int = 0,
                     drop_last: bool | None = None, prefetch_factor: int | None = None) -> DataLoader:
    """A DataLoader for ``dataset``: shuffled and ``drop_last`` for training (docs/spec.md 3.1), in order for
    testing. Workers and pinning default to ``dataset.cfg`` (pinning only when CUDA is present). When
    ``torch.distributed`` is initialised and no ``sampler`` is given, a ``DistributedSampler`` splits the
    data between processes; call :func:`set_loader_epoch` each epoch."""
    cfg = dataset.cfg
    num_workers = cfg.num_workers if num_workers is None else num_workers
    pin_memory = (cfg.pin_memory if pin_memory is None else pin_memory) and torch.cuda.is_available()
    drop_last = train if drop_last is None else drop_last
    if sampler is None and torch.distributed.is_available() and torch.distributed.is_initialized():
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, shuffle=train, seed=seed, drop_last=drop_last)
    generator = torch.Generator().manual_seed(seed) if sampler is None and train else None
    extra = {"prefetch_factor": prefetch_factor} if prefetch_factor and num_workers > 0 else {}
    if num_workers > 0:
        _fork_safe_opencv()
    return DataLoader(dataset, batch_size=batch_size, shuffle=train if sampler is None else False, sampler=sampler,
                      num_workers=num_workers, pin_memory=pin_memory, drop_last=drop_last, generator=generator,
                      persistent_workers=num_workers > 0, **extra)


def _filter(items: list[ClipItem], split: str, fold: int | None, source: str, k_fold_ok: bool,
            problems: list[Problem] | None = None) -> list[ClipItem]:
    has_split = any(i.split is not None for i in items)
    folds = sorted({i.fold for i in items if i.fold is not None})
    has_fold = bool(folds)
    rejected = [p for p in problems or [] if p.source.startswith(f"{source}:")]
    also = (f"; besides, {len(rejected)} row(s) of it were rejected, e.g. {rejected[0]}" if rejected else "")
    if has_fold and fold is None:
        raise ValueError(f"{source} assigns folds; set data.fold (--fold) to one of {folds}{also}")
    if has_fold and fold not in folds:
        raise ValueError(f"data.fold={fold} is not a fold of {source}, whose folds are {folds}{also}")
    if has_split:
        items = [i for i in items if i.split == split]
        if has_fold:
            items = [i for i in items if i.fold == fold]
    elif has_fold and k_fold_ok:
        # No split column: k-fold cross-validation, the fold's clips are the test set.
        items = [i for i in items if (i.fold == fold) == (split == "test")]
    return items


def _reads_still_layout(cfg: DataConfig) -> bool:
    """A still set is read by its layout, unless its manifest is peclip's own CSV (``path,label,...``,
    e.g. written by ``peclip stills``); AffectNet's own label files are CSVs too."""
    if cfg.dataset not in STILL_SETS:
        return False
    if cfg.manifest is None or Path(cfg.manifest).suffix.lower() != ".csv" or not Path(cfg.manifest).is_file():
        return True
    with open(cfg.manifest, encoding="utf-8") as fh:
        return not fh.readline().strip().lower().startswith("path")


def read_split(cfg: DataConfig, split: str, fold: int | None = None,
               problems: list[Problem] | None = None, warnings: list[Problem] | None = None) -> list[ClipItem]:
    """The manifest items of ``split`` (``train``/``val``/``test``) and ``fold``.

    A named dataset whose ``manifest`` is a folder reads its official annotation files from it. A CSV
    is filtered by its ``split``/``fold`` columns (a fold column without a split column means k-fold:
    the fold is the test set). ``test_manifest``, when set, is the test split.

    Every row goes through one validation pass (:func:`peclip.data.manifest.check_rows`: unknown
    split values, conflicting duplicates, train/test overlap); with a ``problems`` list, each rejected
    row is recorded there (and repeated rows in ``warnings``), otherwise the first problems raise. An
    empty manifest, or a split with no rows, is a problem too.
    """
    fold = cfg.fold if fold is None else fold
    if _reads_still_layout(cfg):
        # a still-image set read by its published layout (docs/stills.md)
        items = read_still_set(cfg.dataset, cfg.root, cfg.manifest, cfg.label_set, problems)
        return _filter(items, split, fold, f"{cfg.dataset} under {cfg.root or cfg.manifest}", k_fold_ok=True)
    if cfg.manifest is None:
        raise ValueError("data.manifest is not set: give the annotation folder of a named dataset or your "
                         "CSV/annotation file (see `peclip prepare` to make one from videos)")
    spec = None if cfg.dataset == "custom" or cfg.dataset in STILL_SETS else get_dataset_spec(cfg.dataset)
    label_set = get_label_set(cfg.label_set)
    annotation = {"strip_prefix": cfg.strip_prefix, "anchors": spec.anchors if spec else (),
                  "label_map": spec.label_map if spec and cfg.remap_labels else None}
    collect = problems is not None
    problems = [] if problems is None else problems
    warnings = [] if warnings is None else warnings
    before = len(problems)
    manifest = Path(cfg.manifest)
    if spec is not None and manifest.is_dir():
        path = manifest / spec.annotation_file(split, fold)
        items = read_annotation(path, root=cfg.root, split=split, fold=fold, problems=problems, **annotation)
        chosen = check_rows(items, problems, warnings)
    elif manifest.is_dir():
        raise ValueError(f"data.manifest={cfg.manifest!r} is a folder; a custom dataset needs a CSV or "
                         "annotation file")
    else:
        path = Path(cfg.test_manifest) if cfg.test_manifest is not None and split == "test" else manifest
        items = read_manifest(path, cfg.root, label_set, problems, **annotation)
        chosen = check_rows(items, problems, warnings)
        if cfg.test_manifest is not None:
            if any(i.split for i in chosen):
                chosen = _filter(chosen, split, fold, str(path), k_fold_ok=False, problems=problems)
        elif any(i.split is not None or i.fold is not None for i in items):
            chosen = _filter(chosen, split, fold, str(path), k_fold_ok=True, problems=problems)
        elif split != "train":
            raise MissingSplitError(f"{manifest} has no split or fold column, so it has no {split!r} split; add a "
                                    "split column (train/test) or set data.test_manifest")
    if not items and len(problems) == before:
        problems.append(Problem(str(path), "empty", "the manifest holds no clip rows (an empty file, or a header "
                                "only)", str(path)))
    elif items and not chosen and len(problems) == before:
        splits = sorted({str(i.split) for i in items if i.split is not None})
        problems.append(Problem(str(path), "empty split", f"no row of {path} is in the {split!r} split"
                                + (f" of fold {fold}" if fold is not None else "")
                                + (f" (its splits: {', '.join(splits)})" if splits else ""), str(path)))
    if not collect and len(problems) > before:
        lines = "\n".join(f"  {p}" for p in problems[before:])
        raise ValueError(f"{len(problems) - before} problem(s) in {path}:\n{lines}")
    return chosen


def scan_split(cfg: DataConfig, split: str, fold: int | None = None, progress: bool = True,
               deep: bool = False, allow_unlabelled: bool = False) -> ScanReport:
    """Read a split and scan it: the report lists malformed lines and every bad clip."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    items = read_split(cfg, split, fold, problems, warnings)
    report = scan_items(items, get_label_set(cfg.label_set), problems, order=cfg.frame_order, deep=deep,
                        allow_unlabelled=allow_unlabelled, progress=progress, read_warnings=warnings)
    if cfg.manifest is not None:  # still-image sets are read from their root, with no manifest
        manifest = Path(cfg.manifest)
        hint = root_hint(report, cfg.root, manifest if manifest.is_dir() else manifest.parent)
        if hint:
            report.hints.append(hint)
    return report


def _caption_root(cfg: DataConfig) -> Path:
    """The folder a sidecar caption file's paths are relative to: the data root, else the manifest's folder."""
    if cfg.root is not None:
        return Path(cfg.root)
    manifest = Path(cfg.manifest)
    return manifest if manifest.is_dir() else manifest.parent


def _skipped_path(template: str, split: str) -> Path:
    if "{split}" in template:
        return Path(template.format(split=split))
    path = Path(template)
    return path.with_name(f"{path.stem}-{split}{path.suffix or '.tsv'}")


def load_dataset_items(cfg: DataConfig, split: str, fold: int | None = None, progress: bool = True,
                       allow_unlabelled: bool = False) -> list[ClipItem]:
    """Resolve ``cfg`` into the checked items of ``split`` (``train``/``test``) and ``fold``.

    ``allow_unlabelled`` accepts clips without a label (label-free caption training). Captions of a
    sidecar file (``cfg.captions``) are attached to the items.

    Every item is scanned first. With ``cfg.on_bad == "stop"`` any problem raises
    :class:`~peclip.data.scan.DataError` listing all of them; with ``"skip"`` the bad items are dropped,
    logged and written to ``cfg.skipped_list`` (``{split}`` in it is replaced; otherwise ``-<split>`` is
    added to the name).
    """
    report = scan_split(cfg, split, fold, progress, allow_unlabelled=allow_unlabelled)
    for warning in report.warnings[:20]:
        log.warning("%s", warning)
    if len(report.warnings) > 20:
        log.warning("... and %d more frame-count warnings", len(report.warnings) - 20)
    if not report.ok:
        if cfg.on_bad == "stop":
            report.raise_if_bad()
        log.warning("skipping %d bad item(s) of the %s split:\n%s", len(report.bad_items), split,
                    report.format(limit=20))
        if cfg.skipped_list:
            written = report.write(_skipped_path(os.fspath(cfg.skipped_list), split))
            log.warning("list of skipped items written to %s", written)
    if not report.items:
        raise ValueError(f"no usable clips in the {split} split of {cfg.manifest}")
    if cfg.captions is not None:
        return attach_captions(report.items, cfg.captions, _caption_root(cfg))
    return report.items

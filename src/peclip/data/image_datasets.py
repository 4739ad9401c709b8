"""Image datasets (KMU-FED, KDEF) as manifests made from their folder layouts, with k stratified folds.

Each image is a one-frame clip. The label comes from the file name's expression code or from a class
folder, as each dataset's table row says (data, not ``if name == ...``):

- **KDEF** (Karolinska Directed Emotional Faces): ``<session+sex+id>/<code><EXPR><angle>.JPG``, e.g.
  ``AF01/AF01ANS.JPG``; expression codes AF afraid, AN angry, DI disgusted, HA happy, NE neutral,
  SA sad, SU surprised; the angle (S straight, HL/HR half, FL/FR full profile) is kept, all angles
  are used unless ``angles`` limits them (ShuffViT-DFER's paper does not say; straight faces: ``("S",)``).
- **KMU-FED** (Keimyung University facial expression of drivers): six classes, no neutral. One folder
  per class (``anger/``, ``disgust/``, ...) or the expression code in the file name (``_AN_``,
  ``_DI_``, ``_FE_``, ``_HA_``, ``_SA_``, ``_SU_``). We could not check the original release's naming;
  a file that matches neither is reported, not guessed.

The folds are stratified by class and seeded: fold ``k``'s images are the test set of fold ``k``
(``data.fold``), the others train (10 folds by default, as the ShuffViT-DFER paper evaluates).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peclip.data.formats import IMAGE_SUFFIXES
from peclip.data.manifest import ClipItem, write_csv_manifest
from peclip.labels import get_label_set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageDatasetSpec:
    """How to read one image dataset's labels: the label set, the file-name pattern (its ``code`` group
    is the expression code) and the code -> class table; class-named folders are read too."""

    name: str
    label_set: str
    pattern: str
    codes: dict[str, str]
    angle_group: bool = False  # the pattern has an ``angle`` group (KDEF)


IMAGE_DATASETS = {
    "kdef": ImageDatasetSpec(
        "kdef", "basic7", r"^[AB][FM]\d\d(?P<code>AF|AN|DI|HA|NE|SA|SU)(?P<angle>S|HL|HR|FL|FR)$",
        {"AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happiness", "NE": "neutral", "SA": "sadness",
         "SU": "surprise"}, angle_group=True),
    "kmu-fed": ImageDatasetSpec(
        "kmu-fed", "basic6", r"(?:^|[_-])(?P<code>AN|DI|FE|HA|SA|SU)(?:[_-]|$)",
        {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "SA": "sadness", "SU": "surprise"}),
}

#: class-folder names that mean a class (lower case), beside the label set's own class names
_FOLDER_NAMES = {"angry": "anger", "disgusted": "disgust", "afraid": "fear", "fearful": "fear", "happy": "happiness",
                 "sad": "sadness", "surprised": "surprise"}


def _label_of(path: Path, spec: ImageDatasetSpec, classes: tuple[str, ...],
              angles: tuple[str, ...] | None) -> tuple[str | None, bool]:
    """``(class, keep)`` for one image: the class from the file name or a class folder (None: unknown)."""
    match = re.search(spec.pattern, path.stem, flags=re.IGNORECASE)
    if match:
        if spec.angle_group and angles is not None and match.group("angle").upper() not in angles:
            return None, False
        return spec.codes[match.group("code").upper()], True
    for folder in reversed(path.parent.parts):
        name = _FOLDER_NAMES.get(folder.lower(), folder.lower())
        if name in classes:
            return name, True
    return None, True


def image_dataset_manifest(dataset: str, root: str | os.PathLike, out: str | os.PathLike, folds: int = 10,
                           seed: int = 0, angles: tuple[str, ...] | None = None) -> Path:
    """Write a CSV manifest (``path,label,fold``, paths relative to ``root``) of every image under ``root``."""
    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {dataset!r}; known: {', '.join(IMAGE_DATASETS)}")
    if folds < 2:
        raise ValueError(f"folds={folds!r} must be at least 2")
    spec = IMAGE_DATASETS[dataset]
    label_set = get_label_set(spec.label_set)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; give the folder that holds the {dataset} images")
    images = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    labelled, unknown = [], []
    for path in images:
        name, keep = _label_of(path.relative_to(root), spec, label_set.classes, angles)
        if not keep:
            continue
        if name is None:
            unknown.append(path)
        else:
            labelled.append((path, label_set.index(name)))
    if unknown:
        shown = ", ".join(str(p.relative_to(root)) for p in unknown[:5])
        raise ValueError(f"{len(unknown)} image(s) under {root} have no {dataset} expression code in their name and "
                         f"no class folder, e.g. {shown}; move them into class folders "
                         f"({', '.join(label_set.classes)}) or remove them")
    if not labelled:
        raise ValueError(f"no {dataset} images found under {root}")
    rng = np.random.default_rng(seed)
    fold_of: dict[int, int] = {}
    for label in sorted({lab for _, lab in labelled}):
        members = [i for i, (_, lab) in enumerate(labelled) if lab == label]
        for rank, i in enumerate(rng.permutation(members)):
            fold_of[int(i)] = rank % folds + 1  # round-robin over a shuffled class: stratified folds
    items = [ClipItem(path, label, 1, None, fold_of[i]) for i, (path, label) in enumerate(labelled)]
    written = write_csv_manifest(items, out, root=root, label_set=label_set)
    log.info("%s: %d images, %d folds -> %s", dataset, len(items), folds, written)
    return written

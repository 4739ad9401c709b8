"""The four benchmark datasets as data: label set, folds, annotation files, augmentation, label remapping.

Annotation files are those of the official code and DFER-CLIP (docs/spec.md 4.1, 4.2): one
``<frame folder> <num frames> <label>`` line per clip, with absolute paths from the authors' machines.
Each spec names *anchors*: the path component(s) after which the part that is relative to your copy of
the dataset begins. ``/data/.../DFEW/DFEW_Frame_Face/00001`` and ``D:/.../Clip/clip_224x224/00001`` both
become ``00001``, read from ``<root>/00001``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark dataset.

    ``train_file``/``test_file`` are annotation file names; ``{fold}`` is replaced by the fold number.
    ``label_map`` maps the annotation's label to the label-set index (empty: identity).
    """

    name: str
    label_set: str
    folds: tuple[int, ...]
    train_file: str
    test_file: str
    augment: str
    anchors: tuple[str, ...]
    label_map: dict[int, int] = field(default_factory=dict)
    notes: str = ""
    #: the dataset is meant to be fine-tuned from a model trained elsewhere (AFEW from DFEW,
    #: docs/spec.md 3.2); training it from scratch logs a warning naming ``train.init_from``
    fine_tune_from: str | None = None

    def annotation_file(self, split: str, fold: int | None) -> str:
        """The annotation file name for ``split`` (``train``/``test``) and ``fold``."""
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r} is not valid; choose train or test")
        if self.folds and fold not in self.folds:
            raise ValueError(f"{self.name} needs a fold in {', '.join(map(str, self.folds))}, got {fold!r}; "
                             "set data.fold")
        if not self.folds and fold is not None:
            raise ValueError(f"{self.name} has no folds (fixed train/test split), got fold={fold!r}")
        pattern = self.train_file if split == "train" else self.test_file
        return pattern.format(fold=fold)


#: AFEW's annotation labels are alphabetical (Angry 0 ... Surprise 6); the class texts are in DFEW order
#: (happiness 0, sadness 1, neutral 2, anger 3, surprise 4, disgust 5, fear 6). docs/spec.md 10 A5.
AFEW_TO_BASIC7 = {0: 3, 1: 5, 2: 6, 3: 0, 4: 2, 5: 1, 6: 4}

DATASETS: dict[str, DatasetSpec] = {
    "dfew": DatasetSpec(
        name="dfew", label_set="basic7", folds=(1, 2, 3, 4, 5),
        train_file="DFEW_set_{fold}_train.txt", test_file="DFEW_set_{fold}_test.txt",
        augment="dfew", anchors=("clip_224x224", "DFEW_Frame_Face"),
        notes="11,697 single-label clips, official 5 folds; root = the folder of per-clip frame folders "
        "(Clip/clip_224x224 or DFEW_Frame_Face)",
    ),
    "ferv39k": DatasetSpec(
        name="ferv39k", label_set="basic7", folds=(),
        train_file="FERV39K_train.txt", test_file="FERV39K_test.txt",
        augment="ferv39k", anchors=("2_ClipsforFaceCrop",),
        notes="31,088 train / 7,847 test; root = 2_ClipsforFaceCrop (holds <Scene>/<Emotion>/<id>)",
    ),
    "afew": DatasetSpec(
        name="afew", label_set="basic7", folds=(),
        train_file="AFEW_train.txt", test_file="AFEW_val.txt",
        augment="afew", anchors=("AFEW_Face_Retina",), label_map=AFEW_TO_BASIC7,
        notes="773 train / 383 val (val is the test set); root = AFEW_Face_Retina (holds {train,val}/<Emotion>/<id>)",
        fine_tune_from="a DFEW model",
    ),
    "mafw": DatasetSpec(
        name="mafw", label_set="mafw11", folds=(1, 2, 3, 4, 5),
        train_file="MAFW_set_{fold}_train.txt", test_file="MAFW_set_{fold}_test.txt",
        augment="mafw", anchors=("data/faces",),
        notes="11 classes, DFER-CLIP's 5 folds (not evaluated by PE-CLIP); root = MAFW/data/faces",
    ),
}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec called ``name`` (case-insensitive)."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or 'custom' with your "
                         "own manifest)") from None

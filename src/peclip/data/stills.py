"""Still-image FER datasets by their published layouts, as data: where the labels are, what they mean.

Each set is a :class:`StillSetSpec` in :data:`STILL_SETS`; :func:`read_still_set` turns a copy on disk
into :class:`~peclip.data.manifest.ClipItem` s (one per image, ``split`` set, labels as indices into a
peclip label set), which the scan checks like any clip (:mod:`peclip.data.scan`). Nothing is
downloaded: you bring the data, these readers know the layouts.

=========== ============================================================ ==============================
name        layout (``root`` is the folder you give)                     labels
=========== ============================================================ ==============================
rafdb       RAF-DB basic: ``EmoLabel/list_patition_label.txt``           1 surprise, 2 fear, 3 disgust,
            (``train_00001.jpg 5``) and ``Image/aligned/*_aligned.jpg``  4 happiness, 5 sadness,
            (else ``Image/original/``); split from the name prefix       6 anger, 7 neutral
affectnet7  AffectNet: ``training.csv`` / ``validation.csv`` (the test   0 neutral, 1 happiness,
affectnet8  split) with ``subDirectory_filePath`` and ``expression``;    2 sadness, 3 surprise, 4 fear,
            images under ``root``. 8 None, 9 Uncertain, 10 Non-Face     5 disgust, 6 anger,
            are left out, and contempt (7) too for affectnet7            7 contempt (affectnet8)
fer2013     a folder-per-class tree (Kaggle: ``train/angry/*.jpg``,      angry, disgust, fear, happy,
            ``test/...``), or the CSV of pixels ``fer2013.csv``          neutral, sad, surprise
            (``emotion,pixels,Usage``) unpacked by :func:`unpack_fer_csv` (CSV: 0 angry ... 6 neutral)
ferplus     FERPlus: ``FER2013Train|Valid|Test/label.csv`` (image name,  majority of 10 votes: neutral,
            box, 10 vote counts), or ``fer2013new.csv`` + ``fer2013.csv``  happiness, surprise, sadness,
            unpacked by :func:`unpack_fer_csv`                           anger, disgust, fear, contempt
kdef        KDEF: ``<id>/<id><EX><angle>.JPG`` (``AF01AFS.JPG``); no     AF fear, AN anger, DI disgust,
            official split: 10 subject-independent folds by subject      HA happiness, NE neutral,
            number; frontal (``S``) images unless ``angles`` says more   SA sadness, SU surprise
sfew        SFEW 2.0: ``Train/<Emotion>/*``, ``Val/<Emotion>/*`` (the    Angry, Disgust, Fear, Happy,
            test split; the unlabelled Test is left out)                 Neutral, Sad, Surprise
folders     any folder-per-class tree: ``<class>/*`` or                  class folder names (synonyms
            ``<split>/<class>/*``                                         below), any case
=========== ============================================================ ==============================

Folder names are matched to classes through :data:`CLASS_SYNONYMS` (``angry`` -> anger, ``happy`` ->
happiness, ``surprised`` -> surprise ...). Split folders named ``train``/``training`` are the train
split, ``test``/``testing``/``privatetest`` the test split, ``val``/``valid``/``validation``/
``publictest`` the test split when the tree has no test folder (SFEW 2.0) and ``val`` otherwise.
A class the chosen label set lacks (contempt in basic7) is a problem the scan reports, except where a
spec leaves it out on purpose (affectnet7).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from peclip.atomic import atomic_write
from peclip.data.formats import IMAGE_SUFFIXES
from peclip.data.manifest import ClipItem, Problem, write_csv_manifest
from peclip.labels import LabelSet, get_label_set

log = logging.getLogger(__name__)

#: folder / file label names -> peclip class names (lower case)
CLASS_SYNONYMS = {
    "anger": "anger", "angry": "anger", "an": "anger",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "af": "fear",
    "happiness": "happiness", "happy": "happiness", "joy": "happiness", "ha": "happiness",
    "neutral": "neutral", "ne": "neutral", "calm": "neutral",
    "sadness": "sadness", "sad": "sadness", "sa": "sadness",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    "contempt": "contempt",
}
_TRAIN_DIRS = {"train", "training", "fer2013train"}
_TEST_DIRS = {"test", "testing", "privatetest", "fer2013test"}
_VAL_DIRS = {"val", "valid", "validation", "publictest", "fer2013valid"}

LAYOUTS = ("folders", "rafdb", "affectnet", "fer", "ferplus", "kdef")


@dataclass(frozen=True)
class StillSetSpec:
    """One still-image dataset: its layout, default label set and the map of its labels to class names.

    ``labels`` maps the dataset's own label (an index or code, as text) to a peclip class name; ``drop``
    lists labels that are left out on purpose (not problems). ``manifest`` is the label file or folder
    looked for under ``root`` when none is given.
    """

    name: str
    layout: str
    label_set: str
    labels: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    manifest: str | None = None
    #: split folder names (lower case) -> split, "" to leave a folder out; empty: the general rule
    splits: dict[str, str] = field(default_factory=dict)
    augment: str = "mafw"  # random resized crop + flip, the plainest of the clip-consistent presets
    notes: str = ""


_AFFECTNET = {"0": "neutral", "1": "happiness", "2": "sadness", "3": "surprise", "4": "fear", "5": "disgust",
              "6": "anger", "7": "contempt"}
#: FER2013's CSV labels (emotion column)
FER2013_LABELS = {"0": "anger", "1": "disgust", "2": "fear", "3": "happiness", "4": "sadness", "5": "surprise",
                  "6": "neutral"}
#: FERPlus's ten vote columns, in file order
FERPLUS_VOTES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown",
                 "NF")

STILL_SETS: dict[str, StillSetSpec] = {
    "rafdb": StillSetSpec(
        "rafdb", "rafdb", "basic7",
        {"1": "surprise", "2": "fear", "3": "disgust", "4": "happiness", "5": "sadness", "6": "anger", "7": "neutral"},
        manifest="EmoLabel/list_patition_label.txt",
        notes="RAF-DB basic: 12,271 train / 3,068 test aligned 100x100 faces; root = the basic/ folder"),
    "affectnet7": StillSetSpec(
        "affectnet7", "affectnet", "basic7", _AFFECTNET, drop=("7", "8", "9", "10"),
        notes="AffectNet-7 (no contempt); manifest = the folder of training.csv / validation.csv; root = "
              "Manually_Annotated_Images (images used as stored; the CSV's face boxes are not applied)"),
    "affectnet8": StillSetSpec(
        "affectnet8", "affectnet", "basic8", _AFFECTNET, drop=("8", "9", "10"),
        notes="AffectNet-8 (with contempt: label set basic8); as affectnet7"),
    "fer2013": StillSetSpec(
        "fer2013", "folders", "basic7",
        notes="FER2013 48x48 grey faces: a train/ test/ class-folder tree, or unpack fer2013.csv with "
              "`peclip stills fer2013 ... --unpack`"),
    "ferplus": StillSetSpec(
        "ferplus", "ferplus", "basic8",
        notes="FERPlus majority labels over FER2013 images (8 classes: label set basic8); root = the folder "
              "holding FER2013Train/ FER2013Valid/ FER2013Test/ (each with label.csv)"),
    "kdef": StillSetSpec(
        "kdef", "kdef", "basic7", {"af": "fear", "an": "anger", "di": "disgust", "ha": "happiness",
                                   "ne": "neutral", "sa": "sadness", "su": "surprise"},
        notes="KDEF: 70 actors x 7 expressions x 5 angles x 2 sessions; 10 subject-independent folds "
              "(set data.fold); frontal images only by default"),
    "sfew": StillSetSpec(
        "sfew", "folders", "basic7", splits={"train": "train", "val": "test", "test": ""},
        notes="SFEW 2.0 aligned faces: Train/ and Val/ (the test split) with one folder per emotion"),
    "folders": StillSetSpec("folders", "folders", "basic7",
                            notes="any folder-per-class tree: <class>/* or <split>/<class>/*"),
}


def get_still_set(name: str) -> StillSetSpec:
    """The still-set spec called ``name`` (case-insensitive)."""
    try:
        return STILL_SETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown still-image dataset {name!r}; known: {', '.join(STILL_SETS)}") from None


def _index(name: str, label_set: LabelSet) -> int | None:
    return label_set.classes.index(name) if name in label_set.classes else None


def _is_image(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES


# ------------------------------------------------------------------------------------------ folder trees

def _split_of(folder: str, names: set[str], splits: dict[str, str] | None = None) -> str | None:
    key = folder.lower()
    if splits:
        return splits.get(key) or None
    if key in _TRAIN_DIRS:
        return "train"
    if key in _TEST_DIRS:
        return "test"
    if key in _VAL_DIRS:
        return "val" if names & _TEST_DIRS else "test"
    return None


def read_folder_tree(root: str | os.PathLike, label_set: LabelSet, problems: list[Problem] | None = None,
                     splits: dict[str, str] | None = None) -> list[ClipItem]:
    """A folder-per-class tree: ``root/<class>/*`` (no split) or ``root/<split>/<class>/*``; ``splits``
    names the split folders (``{"val": "test", "test": ""}``: SFEW's Val is the test split and its
    unlabelled Test is left out) where the general rule of the module docstring does not fit.

    A class folder whose name is no known class name (or a class the label set lacks) is a problem
    naming the folder and the valid names; its images are not read.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder tree {root} does not exist")
    top = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    lowered = {t.lower() for t in top}
    known = {t: _split_of(t, lowered, splits) for t in top}
    if any(s is not None for s in known.values()) or splits:
        layers = [(root / t, known[t]) for t in top if known[t] is not None]
        skipped = [t for t in top if known[t] is None]
        if skipped:
            log.info("%s: folders %s are no split (train/test/val) and are left out", root, ", ".join(skipped))
    else:
        layers = [(root, None)]
    items: list[ClipItem] = []
    for folder, split in layers:
        for entry in sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")):
            cls = CLASS_SYNONYMS.get(entry.lower())
            label = _index(cls, label_set) if cls else None
            where = folder / entry
            if label is None:
                known = ", ".join(label_set.classes)
                why = (f"class {cls!r} is not in label set {label_set.name} ({known}); choose a label set that has it"
                       if cls else f"folder name {entry!r} is no class name; name it after one of {known} "
                       f"(synonyms such as angry, happy, sad, surprised are read too)")
                if problems is None:
                    raise ValueError(f"{where}: {why}")
                problems.append(Problem(str(where), "unknown label", why, str(where)))
                continue
            for name in sorted(n for n in os.listdir(where) if _is_image(n)):
                items.append(ClipItem(where / name, label, None, split, None, str(where / name)))
    return items


# ------------------------------------------------------------------------------------------- RAF-DB

def read_rafdb(root: str | os.PathLike, label_set: LabelSet, spec: StillSetSpec, manifest: str | os.PathLike | None,
               problems: list[Problem]) -> list[ClipItem]:
    """RAF-DB basic: ``<name> <label 1..7>`` lines; split from the ``train_`` / ``test_`` prefix."""
    root = Path(root)
    path = Path(manifest) if manifest is not None else root / spec.manifest
    if not path.is_file():
        raise FileNotFoundError(f"RAF-DB label file {path} does not exist; give data.manifest or a root holding "
                                f"{spec.manifest}")
    aligned = (root / "Image" / "aligned").is_dir()
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        source = f"{path}:{number}"
        parts = text.split()
        if len(parts) != 2 or parts[0].split("_")[0] not in ("train", "test"):
            problems.append(Problem(source, "malformed line",
                                    f"expected '<train|test>_NNNNN.jpg <1..7>', got {text!r}"))
            continue
        name, code = parts
        cls = spec.labels.get(code)
        if cls is None:
            problems.append(Problem(source, "unknown label", f"RAF-DB labels are 1..7, got {code!r}"))
            continue
        image = (root / "Image" / "aligned" / f"{Path(name).stem}_aligned{Path(name).suffix}" if aligned
                 else root / "Image" / "original" / name)
        label = _require(cls, label_set, source, problems)
        items.append(ClipItem(image, label, None, name.split("_")[0], None, source))
    return [i for i in items if i.label >= 0]


def _require(cls: str, label_set: LabelSet, source: str, problems: list[Problem]) -> int:
    index = _index(cls, label_set)
    if index is None:
        problems.append(Problem(source, "unknown label", f"class {cls!r} is not in label set {label_set.name}"))
        return -2  # filtered out by the caller
    return index


# ------------------------------------------------------------------------------------------ AffectNet

def read_affectnet(root: str | os.PathLike, label_set: LabelSet, spec: StillSetSpec,
                   manifest: str | os.PathLike | None, problems: list[Problem]) -> list[ClipItem]:
    """AffectNet's ``training.csv`` (train) and ``validation.csv`` (test): ``subDirectory_filePath`` and
    ``expression`` columns; labels in ``spec.drop`` are left out (counted in the log)."""
    root = Path(root)
    where = Path(manifest) if manifest is not None else root
    files = ([(where / "training.csv", "train"), (where / "validation.csv", "test")] if where.is_dir()
             else [(where, None)])
    items: list[ClipItem] = []
    dropped = 0
    for path, split in files:
        if not path.is_file():
            raise FileNotFoundError(f"AffectNet label file {path} does not exist; give data.manifest = the folder "
                                    "holding training.csv and validation.csv (or one of them)")
        if split is None:
            split = "test" if "valid" in path.name.lower() else "train"
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"subDirectory_filePath", "expression"} <= set(reader.fieldnames or ()):
                raise ValueError(f"{path}: expected AffectNet columns subDirectory_filePath and expression, got "
                                 f"{reader.fieldnames}")
            for number, row in enumerate(reader, start=2):
                code = (row["expression"] or "").strip()
                source = f"{path}:{number}"
                if code in spec.drop:
                    dropped += 1
                    continue
                cls = spec.labels.get(code)
                if cls is None:
                    problems.append(Problem(source, "unknown label", f"AffectNet expression {code!r} is not 0..10"))
                    continue
                index = _require(cls, label_set, source, problems)
                if index >= 0:
                    image = root / row["subDirectory_filePath"].strip()
                    items.append(ClipItem(image, index, None, split, None, source))
    if dropped:
        log.info("%s: %d rows left out (labels %s)", spec.name, dropped, ", ".join(spec.drop))
    return items


# ------------------------------------------------------------------------------------------- FERPlus

def ferplus_majority(votes: list[int]) -> str | None:
    """FERPlus's majority label: the class with the most of the 10 votes, ``None`` when that is
    ``unknown``/``NF`` or tied (such images are left out, as FERPlus's 'majority' mode does)."""
    if len(votes) != len(FERPLUS_VOTES):
        raise ValueError(f"FERPlus has {len(FERPLUS_VOTES)} vote columns, got {len(votes)}")
    best = max(votes)
    winners = [FERPLUS_VOTES[i] for i, v in enumerate(votes) if v == best]
    if best <= 0 or len(winners) != 1 or winners[0] in ("unknown", "NF"):
        return None
    return winners[0]


def read_ferplus(root: str | os.PathLike, label_set: LabelSet, problems: list[Problem]) -> list[ClipItem]:
    """FERPlus folders ``FER2013Train|Valid|Test`` each with ``label.csv`` rows ``name,box,v1..v10``."""
    root = Path(root)
    items: list[ClipItem] = []
    found = False
    for folder, split in (("FER2013Train", "train"), ("FER2013Valid", "val"), ("FER2013Test", "test")):
        path = root / folder / "label.csv"
        if not path.is_file():
            continue
        found = True
        with open(path, encoding="utf-8", newline="") as fh:
            for number, row in enumerate(csv.reader(fh), start=1):
                if not row:
                    continue
                source = f"{path}:{number}"
                try:
                    votes = [int(float(v)) for v in row[-len(FERPLUS_VOTES):]]
                except ValueError:
                    problems.append(Problem(source, "malformed line", f"expected name,box,10 vote counts: {row}"))
                    continue
                cls = ferplus_majority(votes)
                if cls is None:
                    continue
                index = _require(cls, label_set, source, problems)
                if index >= 0:
                    items.append(ClipItem(root / folder / row[0].strip(), index, None, split, None, source))
    if not found:
        raise FileNotFoundError(f"no FERPlus label.csv under {root}/FER2013Train|FER2013Valid|FER2013Test; or unpack "
                                "fer2013new.csv with `peclip stills ferplus ... --unpack`")
    return items


# ---------------------------------------------------------------------------------------------- KDEF

_KDEF_NAME = re.compile(r"^([AB])([FM])(\d\d)(AF|AN|DI|HA|NE|SA|SU)(FL|FR|HL|HR|S)\.(jpe?g|png)$", re.IGNORECASE)
KDEF_FOLDS = 10


def kdef_fold(gender: str, number: int) -> int:
    """KDEF has no official split: subject-independent folds 1..10 by subject number (both genders)."""
    del gender  # the same number of a woman and a man share a fold, so each fold holds 7 women and 7 men
    return (number - 1) % KDEF_FOLDS + 1


def read_kdef(root: str | os.PathLike, label_set: LabelSet, spec: StillSetSpec, problems: list[Problem],
              angles: tuple[str, ...] = ("S",)) -> list[ClipItem]:
    """Every KDEF image under ``root`` (any depth) whose name parses, frontal (``S``) only by default."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"KDEF folder {root} does not exist")
    wanted = {a.upper() for a in angles}
    items = []
    for folder, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if not _is_image(name):
                continue
            match = _KDEF_NAME.match(name)
            path = Path(folder) / name
            if match is None:
                problems.append(Problem(str(path), "malformed line", "not a KDEF name (e.g. AF01AFS.JPG: session, "
                                        "gender, subject, expression, angle)", str(path)))
                continue
            _, gender, number, code, angle, _ = match.groups()
            if angle.upper() not in wanted:
                continue
            index = _require(spec.labels[code.lower()], label_set, str(path), problems)
            if index >= 0:
                items.append(ClipItem(path, index, None, None, kdef_fold(gender, int(number)), str(path)))
    return items


# --------------------------------------------------------------------------------------- reading a set

def read_still_set(name: str, root: str | os.PathLike | None, manifest: str | os.PathLike | None = None,
                   label_set: str | None = None, problems: list[Problem] | None = None) -> list[ClipItem]:
    """The images of still set ``name`` under ``root`` as items with their split (or KDEF fold).

    Without ``problems`` any problem raises a ``ValueError`` listing them all; with it they are
    recorded there for :func:`peclip.data.scan.scan_items`. ``manifest`` overrides the spec's label
    file (RAF-DB), names the CSV folder or file (AffectNet), or is a pixel CSV's unpacked manifest.
    """
    spec = get_still_set(name)
    labels = get_label_set(label_set or spec.label_set)
    found: list[Problem] = []
    if spec.layout != "folders" and root is None:
        raise ValueError(f"data.root is not set: give the folder of your copy of {spec.name} ({spec.notes})")
    if spec.layout == "folders":
        base = root if root is not None else manifest
        if base is None:
            raise ValueError(f"give data.root, the top of the {spec.name} folder tree ({spec.notes})")
        if Path(base).is_file():
            raise ValueError(f"{base} is a file; {spec.name} reads a folder-per-class tree (a CSV of pixels is "
                             "unpacked first: `peclip stills fer2013 fer2013.csv --unpack DIR`)")
        items = read_folder_tree(base, labels, found, spec.splits)
    elif spec.layout == "rafdb":
        items = read_rafdb(root, labels, spec, manifest, found)
    elif spec.layout == "affectnet":
        items = read_affectnet(root, labels, spec, manifest, found)
    elif spec.layout == "ferplus":
        items = read_ferplus(root, labels, found)
    else:
        items = read_kdef(root, labels, spec, found)
    if problems is not None:
        problems.extend(found)
    elif found:
        raise ValueError(f"{len(found)} problem(s) in {spec.name} under {root}:\n" + "\n".join(f"  {p}" for p in found))
    return items


# ----------------------------------------------------------------------------- unpacking pixel CSVs

_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}


def unpack_fer_csv(pixels_csv: str | os.PathLike, out_dir: str | os.PathLike,
                   ferplus_csv: str | os.PathLike | None = None, label_set: str | None = None) -> Path:
    """Write FER2013's pixel rows as PNG files and a CSV manifest (``path,label,split``); returns the manifest.

    ``pixels_csv`` is ``fer2013.csv`` (``emotion,pixels,Usage``; 48x48 grey, space-separated). Labels are
    FER2013's own, or with ``ferplus_csv`` (``fer2013new.csv``: ``Usage,Image name,<10 vote counts>``,
    one row per FER2013 row) FERPlus's majority labels (rows without a majority are left out). Usage
    ``Training`` is the train split, ``PublicTest`` val, ``PrivateTest`` test. Images go to
    ``out_dir/images/<split>/<row>.png``; the manifest ``out_dir/manifest.csv`` (paths relative to it).
    """
    import numpy as np  # here, not at the top: the CLI reads STILL_SETS for its --help
    from PIL import Image

    out_dir = Path(out_dir)
    labels = get_label_set(label_set or ("basic8" if ferplus_csv is not None else "basic7"))
    with open(pixels_csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"pixels", "Usage"} <= set(rows[0]):
        raise ValueError(f"{pixels_csv}: expected FER2013 columns emotion,pixels,Usage; got {list(rows[0])}")
    votes: list[list[str]] | None = None
    if ferplus_csv is not None:
        with open(ferplus_csv, encoding="utf-8", newline="") as fh:
            votes = [r for r in csv.reader(fh)][1:]
        if len(votes) != len(rows):
            raise ValueError(f"{ferplus_csv} has {len(votes)} rows but {pixels_csv} has {len(rows)}; FERPlus labels "
                             "the FER2013 rows one for one")
    items = []
    left_out = 0
    for i, row in enumerate(rows):
        split = _USAGE.get(row["Usage"].strip().lower())
        if split is None:
            raise ValueError(f"{pixels_csv}:{i + 2}: unknown Usage {row['Usage']!r} (valid: Training, PublicTest, "
                             "PrivateTest)")
        if votes is not None:
            cls = ferplus_majority([int(float(v)) for v in votes[i][-len(FERPLUS_VOTES):]])
        else:
            cls = FER2013_LABELS.get(row.get("emotion", "").strip())
        index = _index(cls, labels) if cls else None
        if index is None:
            left_out += 1
            continue
        pixels = np.array(row["pixels"].split(), dtype=np.uint8)
        if pixels.size != 48 * 48:
            raise ValueError(f"{pixels_csv}:{i + 2}: {pixels.size} pixels, expected 48 x 48 = 2304")
        path = out_dir / "images" / split / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(pixels.reshape(48, 48), mode="L")  # (48, 48) grey
        atomic_write(path, lambda tmp, image=image: image.save(tmp, format="PNG"))
        items.append(ClipItem(path, index, None, split))
    if left_out:
        log.info("%s: %d rows without a label of %s left out", pixels_csv, left_out, labels.name)
    return write_csv_manifest(items, out_dir / "manifest.csv", out_dir, labels)


def write_still_manifest(items: list[ClipItem], path: str | os.PathLike, label_set: str) -> Path:
    """Write still-set items as a peclip CSV manifest (paths relative to the manifest's folder)."""
    return write_csv_manifest(items, path, None, get_label_set(label_set))

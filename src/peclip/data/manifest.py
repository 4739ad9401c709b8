"""Manifests: the list of clips of a dataset, with labels, read from and written to disk.

Two formats are read:

- the annotation format of the official code and DFER-CLIP (docs/spec.md 4.2): one
  ``<frame folder> <num frames> <label>`` line per clip, CRLF tolerated, with the authors' absolute path
  prefixes replaced by your root (``strip_prefix`` or a dataset's anchors, :mod:`peclip.data.specs`);
- a CSV manifest ``path,label[,split][,fold][,num_frames][,caption]`` (a header row naming the columns
  is optional; ``caption`` needs one) whose paths are relative to a root and point at video files, frame
  folders or images. Labels are class names of a label set or indices; an empty label means
  "unlabelled" (-1). A ``caption`` is one text describing the clip, for caption training
  (docs/text-supervision.md; quote it when it holds commas).

Files are read as UTF-8 with an optional byte-order mark (``utf-8-sig``: spreadsheet exports start
with one, which would otherwise stick to the first header name or path). A path may be absolute;
``root`` then is optional (a relative path is joined to it), and ``strip_prefix`` replaces a prefix of
absolute paths by ``root`` in both formats.

Readers never stop at the first bad line: with a ``problems`` list they record every malformed line
(file and line number) there and go on, so that :mod:`peclip.data.scan` can report them all at once;
without one they raise a ``ValueError`` naming all of them.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from peclip.atomic import atomic_writer
from peclip.labels import LabelSet

#: label of an unlabelled clip (a CSV row with an empty label)
UNLABELLED = -1
_DRIVE = re.compile(r"^[A-Za-z]:/")
CSV_COLUMNS = ("path", "label", "split", "fold", "num_frames", "caption")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where (``source``: file:line or path), what kind, and why."""

    source: str
    kind: str
    message: str
    path: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class ClipItem:
    """One clip: ``path`` (video file, frame folder or image, resolved against the root), label index
    (``-1``: unlabelled), the frame count the manifest states (``None``: count on disk), split, fold,
    ``source`` (manifest file:line) for error messages, and an optional ``caption`` (caption training)."""

    path: Path
    label: int
    num_frames: int | None = None
    split: str | None = None
    fold: int | None = None
    source: str = ""
    caption: str | None = None


def _is_absolute(raw: str) -> bool:
    return raw.startswith("/") or bool(_DRIVE.match(raw))


def remap_path(raw: str, root: str | os.PathLike | None, strip_prefix: str | None = None,
               anchors: Sequence[str] = ()) -> Path:
    """Turn a manifest path into a path under ``root``.

    Backslashes count as separators. With ``strip_prefix`` an absolute path must start with it and the
    rest is taken relative to ``root``. Otherwise, with ``anchors`` (e.g. ``clip_224x224``), the part
    after the last occurrence of an anchor is taken. A relative path is joined to ``root``; an absolute
    path is kept as it is (``root`` is optional for it), unless ``anchors`` were given and it holds none
    of them (then the file is not the dataset's, or ``strip_prefix`` is needed).
    """
    path = raw.replace("\\", "/")
    rel: str | None = None
    if strip_prefix is not None:
        prefix = strip_prefix.replace("\\", "/").rstrip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix):]
        elif _is_absolute(path):
            raise ValueError(f"path {raw!r} does not start with strip_prefix {strip_prefix!r}")
    else:
        padded = "/" + path.strip("/") + "/"
        best = -1
        for anchor in anchors:
            key = "/" + anchor.strip("/") + "/"
            at = padded.rfind(key)
            if at >= 0 and at + len(key) > best:
                best = at + len(key)
        if best >= 0:
            rel = padded[best:].strip("/")
    if rel is None:
        if _is_absolute(path):
            if root is not None and anchors and strip_prefix is None:
                raise ValueError(f"absolute path {raw!r} holds none of the dataset's anchors "
                                 f"({', '.join(anchors)}); set strip_prefix to the part to replace by the root")
            return Path(path)
        rel = path
    if not rel.strip("/"):
        raise ValueError(f"path {raw!r} leaves nothing under the root once its prefix is removed")
    return Path(root) / rel if root is not None else Path(rel)


def _finish(problems_out: list[Problem] | None, problems: list[Problem], path: Path) -> None:
    if problems_out is not None:
        problems_out.extend(problems)
    elif problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise ValueError(f"{len(problems)} bad line(s) in {path}:\n{lines}")


def _existing(path: str | os.PathLike, root: str | os.PathLike | None, what: str) -> tuple[Path, Path]:
    """``(path, root)`` for a list file that must exist; ``root`` defaults to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path, (path.parent if root is None else Path(root))


def read_annotation(path: str | os.PathLike, root: str | os.PathLike | None = None, strip_prefix: str | None = None,
                    anchors: Sequence[str] = (), label_map: dict[int, int] | None = None,
                    split: str | None = None, fold: int | None = None,
                    problems: list[Problem] | None = None) -> list[ClipItem]:
    """Read an official-format annotation file (docs/spec.md 4.2) into :class:`ClipItem` s.

    Each line is ``<frame folder> <num frames> <label>``; the path may contain spaces (the last two
    fields are split off). Blank lines are skipped; any other line that does not parse is a problem
    (the official code printed and skipped lines with fewer than three fields). ``root`` defaults to the
    annotation file's folder. ``label_map`` renumbers labels (AFEW, docs/spec.md 10 A5); labels it does not
    list are kept for the scan to report.
    """
    path, root = _existing(path, root, "annotation file")
    items: list[ClipItem] = []
    bad: list[Problem] = []
    with open(path, encoding="utf-8-sig", newline=None) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            source = f"{path}:{number}"
            parts = text.rsplit(None, 2)
            if len(parts) != 3:
                bad.append(Problem(source, "malformed line", f"expected '<frame folder> <num frames> <label>', "
                                   f"got {text!r}"))
                continue
            raw, frames, label = parts
            try:
                num_frames, label_id = int(frames), int(label)
            except ValueError:
                bad.append(Problem(source, "malformed line", f"num frames and label must be integers, got "
                                   f"{frames!r} and {label!r} in {text!r}"))
                continue
            if num_frames < 0:
                bad.append(Problem(source, "malformed line", f"negative frame count {num_frames} in {text!r}"))
                continue
            try:
                clip = remap_path(raw, root, strip_prefix, anchors)
            except ValueError as err:
                bad.append(Problem(source, "malformed line", str(err)))
                continue
            if label_map:
                label_id = label_map.get(label_id, label_id)
            items.append(ClipItem(clip, label_id, num_frames, split, fold, source))
    _finish(problems, bad, path)
    return items


def parse_label(text: str, label_set: LabelSet | None) -> int:
    """A CSV label: an index, a class name of ``label_set`` (any case) or empty (unlabelled)."""
    text = text.strip()
    if not text:
        return UNLABELLED
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if label_set is None:
        raise ValueError(f"label {text!r} is a class name but no label set was given to map it to an index")
    lowered = {c.lower(): i for i, c in enumerate(label_set.classes)}
    if text.lower() not in lowered:
        raise ValueError(f"unknown label {text!r}; classes of {label_set.name}: {', '.join(label_set.classes)}")
    return lowered[text.lower()]


def read_csv_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None,
                      label_set: LabelSet | None = None, problems: list[Problem] | None = None,
                      strip_prefix: str | None = None) -> list[ClipItem]:
    """Read a CSV manifest (``path,label[,split][,fold][,num_frames][,caption]``; paths relative to
    ``root``, which defaults to the manifest's folder, or absolute; ``strip_prefix`` as in
    :func:`remap_path`). A first row starting with ``path`` is a header and may order the columns freely;
    rows starting with ``#`` are comments."""
    path, root = _existing(path, root, "manifest")
    items: list[ClipItem] = []
    bad: list[Problem] = []
    columns = list(CSV_COLUMNS[:4])
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if not row or not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            source = f"{path}:{number}"
            cells = [cell.strip() for cell in row]
            if number == 1 and cells[0].lower() == "path":
                columns = [c.lower() for c in cells]
                unknown = [c for c in columns if c not in CSV_COLUMNS]
                if unknown or "label" not in columns:
                    raise ValueError(f"{source}: header {cells} must name 'path' and 'label' and may add "
                                     f"{', '.join(CSV_COLUMNS[2:])}; unknown: {', '.join(unknown) or 'none'}")
                continue
            if len(cells) < 2 or len(cells) > len(columns):
                bad.append(Problem(source, "malformed line", f"expected {len(columns)} columns "
                                   f"({','.join(columns)}) or at least path,label; got {len(cells)}: {row}"))
                continue
            fields = dict(zip(columns, cells, strict=False))
            if not fields.get("path"):
                bad.append(Problem(source, "malformed line", f"empty path in {row}"))
                continue
            try:
                clip = remap_path(fields["path"], root, strip_prefix)
            except ValueError as err:
                bad.append(Problem(source, "malformed line", str(err)))
                continue
            try:
                label = parse_label(fields.get("label", ""), label_set)
            except ValueError as err:
                bad.append(Problem(source, "unknown label", str(err), str(clip)))
                continue
            numbers = {}
            for column in ("fold", "num_frames"):
                try:
                    numbers[column] = int(fields[column]) if fields.get(column) else None
                except ValueError:
                    numbers[column] = column
            wrong = [c for c, v in numbers.items() if v == c]
            if wrong:
                bad.append(Problem(source, "malformed line", "; ".join(f"{c} {fields[c]!r} is not an integer"
                                                                       for c in wrong) + f" in {row}", str(clip)))
                continue
            fold, num_frames = numbers["fold"], numbers["num_frames"]
            split = fields.get("split", "").lower() or None
            caption = fields.get("caption") or None
            items.append(ClipItem(clip, label, num_frames, split, fold, source, caption))
    _finish(problems, bad, path)
    return items


def read_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None, label_set: LabelSet | None = None,
                  problems: list[Problem] | None = None, **annotation_kwargs) -> list[ClipItem]:
    """Read a manifest by its suffix: ``.csv`` as CSV, anything else as an official annotation file."""
    if Path(path).suffix.lower() == ".csv":
        return read_csv_manifest(path, root, label_set, problems, annotation_kwargs.get("strip_prefix"))
    return read_annotation(path, root, problems=problems, **annotation_kwargs)


def write_csv_manifest(items: Iterable[ClipItem], path: str | os.PathLike, root: str | os.PathLike | None = None,
                       label_set: LabelSet | None = None) -> Path:
    """Write ``items`` as a CSV manifest with paths relative to ``root`` (default: the manifest's folder).

    Labels are written as class names when ``label_set`` is given, else as indices; empty when
    unlabelled. ``split``, ``fold``, ``num_frames`` and ``caption`` columns are written when any item has them. The
    file is written to a temporary name and renamed, so a reader never sees half a manifest.
    """
    path = Path(path)
    items = list(items)
    root = Path(path.parent if root is None else root)
    optional = [c for c in ("split", "fold", "num_frames", "caption") if any(getattr(i, c) is not None for i in items)]
    columns = ["path", "label", *optional]
    rows = []
    for item in items:
        rel = Path(os.path.relpath(Path(item.path).absolute(), root.absolute())).as_posix()
        if label_set is not None and 0 <= item.label < len(label_set):
            label = label_set.classes[item.label]
        else:
            label = "" if item.label == UNLABELLED else str(item.label)
        row = {"path": rel, "label": label}
        for c in optional:
            value = getattr(item, c)
            row[c] = "" if value is None else str(value)
        rows.append([row[c] for c in columns])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


#: split names a manifest may use; a row with another split belongs to no split (a typo such as ``tset``)
KNOWN_SPLITS = ("train", "val", "test")


def check_rows(items: Sequence[ClipItem], problems: list[Problem], warnings: list[Problem]) -> list[ClipItem]:
    """One pass over a manifest's rows before they are split: the rows that can be used.

    Rejected, each with a problem naming its line: a split that is not one of :data:`KNOWN_SPLITS`;
    a clip listed again with another label (every row of that clip is dropped); a clip in both the
    train and the test split of one fold. A row that repeats another exactly is dropped with a warning.
    """
    problems_before = len(problems)
    first_label: dict[Path, ClipItem] = {}
    seen: dict[tuple, ClipItem] = {}
    split_of: dict[tuple, ClipItem] = {}
    conflicted: set[Path] = set()
    kept: list[ClipItem] = []
    for item in items:
        where = str(item.path)
        if item.split is not None and item.split not in KNOWN_SPLITS:
            problems.append(Problem(item.source, "unknown split", f"split {item.split!r} of {where} is not one of "
                                    f"{', '.join(KNOWN_SPLITS)}; the row would belong to no split", where))
            continue
        earlier = first_label.setdefault(item.path, item)
        if earlier.label != item.label:
            problems.append(Problem(item.source, "conflicting duplicate", f"{where} is listed again with label "
                                    f"{item.label}; {earlier.source} gives it label {earlier.label}", where))
            conflicted.add(item.path)
            continue
        key = (item.path, item.split, item.fold)
        if key in seen:
            warnings.append(Problem(item.source, "duplicate", f"{where} repeats {seen[key].source}; used once", where))
            continue
        seen[key] = item
        other = split_of.setdefault((item.path, item.fold), item)
        if {other.split, item.split} == {"train", "test"}:
            fold = f" of fold {item.fold}" if item.fold is not None else ""
            problems.append(Problem(item.source, "train/test overlap", f"{where} is in the {item.split} split{fold} "
                                    f"and, at {other.source}, in the {other.split} split", where))
            conflicted.add(item.path)
            continue
        kept.append(item)
    reported = {p.source for p in problems[problems_before:]}
    for item in items:
        if item.path in conflicted and item.source not in reported:
            problems.append(Problem(item.source, "conflicting duplicate", f"{item.path} is dropped with the rows "
                                    "that contradict it", str(item.path)))
    return [i for i in kept if i.path not in conflicted]

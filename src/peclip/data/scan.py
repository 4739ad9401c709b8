"""Scan a dataset before training: every missing file, empty or unreadable clip, unknown label and
malformed manifest line, with file and line, in one report.

By default a bad dataset stops with that report (:meth:`ScanReport.raise_if_bad`); with
``on_bad="skip"`` the bad items are dropped and the list of what was skipped is written
(:meth:`ScanReport.write`). A frame folder holding fewer frames than its manifest line states is a
warning, not an error: the clip is sampled from the frames that exist. When most clips are missing,
the report says which ``--root`` would find them (:func:`root_hint`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
from PIL import Image
from tqdm.auto import tqdm

from peclip.data.formats import VIDEO_SUFFIXES
from peclip.data.manifest import UNLABELLED, ClipItem, Problem
from peclip.data.video import VideoReadError, clip_kind, list_frames, load_image
from peclip.labels import LabelSet

log = logging.getLogger(__name__)

class DataError(ValueError):
    """A dataset has problems; the message lists them (file:line: kind: why)."""


@dataclass
class ScanReport:
    """What a scan found. ``items`` are the clips that passed (with frame counts fixed where a folder
    holds fewer frames than stated), ``bad_items`` those with a problem; ``problems`` block training,
    ``warnings`` do not."""

    items: list[ClipItem] = field(default_factory=list)
    bad_items: list[ClipItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Number of problems per kind."""
        return dict(Counter(p.kind for p in self.problems))

    def format(self, limit: int | None = 100) -> str:
        """A readable report: a summary line, then one line per problem (the first ``limit``)."""
        total = len(self.items) + len(self.bad_items)
        if self.ok:
            head = f"scan: {total} clips, no problems"
        else:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.counts().items()))
            head = f"scan: {len(self.problems)} problem(s) in {total} clips ({kinds})"
        lines = [head]
        shown = self.problems if limit is None else self.problems[:limit]
        lines += [f"  {p}" for p in shown]
        if len(shown) < len(self.problems):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more (write them all with "
                         "ScanReport.write or `peclip scan --report FILE`)")
        lines += [f"hint: {h}" for h in self.hints]
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s):")
            wshown = self.warnings if limit is None else self.warnings[:limit]
            lines += [f"  {w}" for w in wshown]
            if len(wshown) < len(self.warnings):
                lines.append(f"  ... and {len(self.warnings) - len(wshown)} more")
        return "\n".join(lines)

    def raise_if_bad(self) -> None:
        """Raise :class:`DataError` with the report when anything blocks training."""
        if not self.ok:
            raise DataError(self.format() + "\nFix these, or set data.on_bad=skip to train without the "
                            "bad items (their list is written to data.skipped_list).")

    def write(self, path: str | os.PathLike) -> Path:
        """Write every problem and warning as tab-separated ``source kind path message`` lines."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("source\tkind\tpath\tmessage\n")
            for p in [*self.problems, *self.warnings]:
                fh.write(f"{p.source}\t{p.kind}\t{p.path or ''}\t{p.message}\n")
        return path


def _check_folder(item: ClipItem, order: str, deep: bool) -> tuple[list[Problem], int]:
    src, where = item.source or str(item.path), str(item.path)
    files = list_frames(item.path, order)
    if not files:
        others = sum(1 for _ in os.scandir(item.path))
        why = (f"frame folder holds no images ({others} other entries)" if others
               else "frame folder is empty")
        return [Problem(src, "empty", f"{why}: {where}", where)], 0
    to_read = files if deep else [files[0], files[-1]]
    for file in to_read:
        try:
            if deep:
                load_image(file)
            else:
                with Image.open(file) as img:
                    img.size  # noqa: B018 - parses the header
        except (OSError, ValueError, VideoReadError) as err:
            return [Problem(src, "unreadable", f"frame {file.name} of {where} cannot be read: {err}", where)], 0
    return [], len(files)


def _check_video(item: ClipItem) -> tuple[list[Problem], int]:
    src, where = item.source or str(item.path), str(item.path)
    try:
        container = av.open(str(item.path))
    except (av.error.FFmpegError, OSError) as err:
        return [Problem(src, "unreadable", f"cannot open video {where}: {err}", where)], 0
    try:
        if not container.streams.video:
            return [Problem(src, "unreadable", f"no video stream in {where}", where)], 0
        stream = container.streams.video[0]
        packets = sum(1 for packet in container.demux(stream) if packet.size)
        if packets == 0:
            return [Problem(src, "empty", f"video has no frames: {where}", where)], 0
        container.seek(0)
        first = next(iter(container.decode(stream)), None)
        if first is None:
            return [Problem(src, "empty", f"video decodes to no frames: {where}", where)], 0
    except (av.error.FFmpegError, OSError) as err:
        return [Problem(src, "unreadable", f"cannot decode video {where}: {err}", where)], 0
    finally:
        container.close()
    return [], packets


def check_item(item: ClipItem, label_set: LabelSet | None, order: str = "natural", deep: bool = False,
               allow_unlabelled: bool = False) -> tuple[list[Problem], list[Problem], int]:
    """``(problems, warnings, frame_count)`` for one clip."""
    src, where = item.source or str(item.path), str(item.path)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if label_set is not None:
        if item.label == UNLABELLED:
            if not allow_unlabelled:
                problems.append(Problem(src, "unknown label", f"no label given for {where}", where))
        elif not 0 <= item.label < len(label_set):
            problems.append(Problem(src, "unknown label", f"label {item.label} is not a class of {label_set.name} "
                                    f"(0..{len(label_set) - 1}: {', '.join(label_set.classes)})", where))
    try:
        kind = clip_kind(item.path)
    except FileNotFoundError:
        problems.append(Problem(src, "missing", f"no such file or folder: {where}", where))
        return problems, warnings, 0
    if kind == "folder":
        found, count = _check_folder(item, order, deep)
    elif kind == "image":
        try:
            if deep:
                load_image(item.path)
            else:
                Image.open(item.path).close()
            found, count = [], 1
        except (OSError, ValueError, VideoReadError) as err:
            found, count = [Problem(src, "unreadable", f"cannot read image {where}: {err}", where)], 0
    else:
        if item.path.suffix.lower() not in VIDEO_SUFFIXES:
            log.debug("%s: suffix %r is not a known video suffix; trying it as a video", where, item.path.suffix)
        found, count = _check_video(item)
    problems += found
    if not found and item.num_frames is not None and (item.num_frames == 0 or count < item.num_frames):
        warnings.append(Problem(src, "frame count", f"manifest says {item.num_frames} frames, {where} has {count}; "
                                f"sampling from {count}", where))
    return problems, warnings, count


def scan_items(items: Sequence[ClipItem], label_set: LabelSet | None, read_problems: Iterable[Problem] = (),
               order: str = "natural", deep: bool = False, allow_unlabelled: bool = False, workers: int = 8,
               progress: bool = True, read_warnings: Iterable[Problem] = ()) -> ScanReport:
    """Check every item (existence, readability, frame count, label) in parallel threads.

    ``read_problems`` are problems the manifest readers recorded (malformed lines, unknown label
    names); they join the report. ``deep`` decodes every frame instead of the first and last headers.
    """
    report = ScanReport(problems=list(read_problems), warnings=list(read_warnings))

    def check(item: ClipItem):
        return check_item(item, label_set, order, deep, allow_unlabelled)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(tqdm(pool.map(check, items), total=len(items), desc="scan", unit="clip",
                            disable=not progress or len(items) < 200))
    for item, (problems, warnings, count) in zip(items, results, strict=True):
        report.warnings += warnings
        if problems:
            report.problems += problems
            report.bad_items.append(item)
            continue
        stated = item.num_frames
        if stated is not None and (stated == 0 or count < stated):
            item = dataclasses.replace(item, num_frames=count)
        report.items.append(item)
    log.info("scanned %d clips: %d problem(s), %d warning(s)", len(items), len(report.problems), len(report.warnings))
    return report



def _candidate_roots(start: Path, levels: int = 3, depth: int = 3, limit: int = 3000) -> list[Path]:
    """Folders near ``start``: it and its ancestors (``levels`` up), and the folders below each (``depth``
    down), nearest first; at most ``limit``."""
    found: list[Path] = []
    seen: set[Path] = set()
    for anchor in [start, *list(start.parents)[:levels]]:
        frontier = [anchor]
        for _ in range(depth + 1):
            next_level = []
            for folder in frontier:
                if folder in seen or len(found) >= limit:
                    continue
                seen.add(folder)
                found.append(folder)
                try:
                    next_level += sorted(e.path for e in os.scandir(folder)
                                         if e.is_dir() and not e.name.startswith("."))
                except OSError:
                    continue
            frontier = [Path(f) for f in next_level]
    return found


def root_hint(report: ScanReport, root: str | os.PathLike | None, default_root: Path) -> str | None:
    """When at least half of the clips are missing, a line that says where their paths were looked for
    and, if a folder near the manifest holds them, which ``--root`` finds them."""
    missing = [Path(p.path) for p in report.problems if p.kind == "missing" and p.path]
    total = len(report.items) + len(report.bad_items)
    if not missing or 2 * len(missing) < total:
        return None
    base = Path(root) if root is not None else default_root
    where = f"{base} (--root)" if root is not None else f"{base} (the manifest's folder: no --root was given)"
    rels = []
    for path in missing[:20]:
        try:
            rels.append(path.relative_to(base))
        except ValueError:
            continue
    head = f"{len(missing)} of {total} clips are missing; their paths were read relative to {where}"
    if rels:
        for candidate in _candidate_roots(default_root.absolute()):
            if candidate != base.absolute() and (candidate / rels[0]).exists():
                hits = sum((candidate / r).exists() for r in rels)
                if 2 * hits >= len(rels):
                    return f"{head}. With --root {candidate}, {hits} of the {len(rels)} paths checked exist"
    return (f"{head}. Pass --root with the folder that holds the clips (for official annotation files, the "
            "folder that holds the clip folders, e.g. .../clip_224x224)")

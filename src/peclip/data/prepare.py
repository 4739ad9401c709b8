"""``peclip prepare``: raw videos -> face-cropped frame folders + a manifest ready for training.

For every input video (a file, the videos and frame folders under a folder, or the rows of a
manifest) the frames are decoded once, a :class:`~peclip.faces.FaceTracker` follows the face, and
each frame with a face box is cropped square, resized and written as ``<out>/<name>/00001.jpg ...``
(numbered without holes, so the folder is a clip). The few frames a new track needs to be confirmed
are written too once it is. Frames without a face:

- a short miss (up to ``max_gap`` seconds) keeps the last box, when the face comes back afterwards;
- a longer one ends the track: those frames are not written and the video is *reported* with the gap
  (frame range and seconds), in the summary and in its track file;
- a video with no face at all is *skipped* (reported, nothing written).

Each video's track (box per written frame, gaps, optional duplicate-frame report) goes to
``<out>/_tracks/<name>.json``, written last: it is the completion marker. It records every setting
that shapes the crops (:meth:`PrepareOptions.output_settings` and the detector) and what decoding
found (``complete``, ``frames_decoded``, ``frames_expected``, ``decode_errors``: a truncated or
damaged video is prepared as far as it decodes and reported, or skipped with ``strict``). A second run
skips videos whose track file says they are complete *with the same settings*, and redoes the others,
saying why (a folder without a track file is partial; a changed ``--size`` or ``--margin`` redoes it).
The manifest ``<out>/manifest.csv`` lists the clips of this run with paths relative to ``<out>``.

With ``workers > 1`` the videos are prepared in worker processes that die with their parent (a killed
``prepare`` leaves no workers behind) and ignore Ctrl-C, which the parent handles.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from peclip.atomic import atomic_write_text, check_output_dir
from peclip.data.csim_sampling import duplicate_frames
from peclip.data.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from peclip.data.manifest import UNLABELLED, ClipItem, Problem, parse_label, read_manifest, write_csv_manifest
from peclip.data.prepare_options import PrepareOptions
from peclip.data.video import IncompleteVideoError, VideoReadError, list_frames, open_video
from peclip.faces.box import Box
from peclip.faces.crop import crop_face
from peclip.faces.detectors import FaceDetector
from peclip.faces.tracking import tracker_for
from peclip.labels import LabelSet, get_label_set

log = logging.getLogger(__name__)

TRACKS_DIR = "_tracks"
MANIFEST_NAME = "manifest.csv"
MANIFEST_SUFFIXES = (".csv", ".txt")


@dataclass(frozen=True)
class Job:
    """One video to prepare: its source, the output name (relative folder under ``out``) and labels."""

    source: Path
    name: str
    label: int = UNLABELLED
    split: str | None = None
    fold: int | None = None
    origin: str = ""


@dataclass
class VideoResult:
    """What happened to one video. ``status``: ``done``, ``gaps`` (done, with gaps longer than the hold
    reported), ``no_face`` (skipped), ``error`` (skipped: unreadable)."""

    source: str
    name: str
    status: str
    frames_total: int = 0
    frames_written: int = 0
    fps: float = 0.0
    gaps: list[tuple[int, int]] = field(default_factory=list)
    reported_gaps: list[tuple[int, int]] = field(default_factory=list)
    held_frames: int = 0
    duplicates: list[tuple[int, float]] | None = None
    message: str = ""
    seconds: float = 0.0
    resumed: bool = False
    complete: bool = True  # False: the video decoded only in part (see frames_expected, decode_errors)
    frames_expected: int | None = None
    decode_errors: int = 0
    decode_message: str = ""
    redone: str = ""  # why an earlier run's output of this video was not reused

    @property
    def written(self) -> bool:
        return self.status in ("done", "gaps")

    def describe_gaps(self) -> str:
        fps = self.fps or 1.0
        return ", ".join(f"frames {s}-{e} ({e - s + 1} frames, {(e - s + 1) / fps:.1f} s)"
                         for s, e in self.reported_gaps)


@dataclass
class PrepareSummary:
    """Totals of a ``prepare`` run; :meth:`format` is the text the CLI prints."""

    out_dir: Path
    results: list[VideoResult]
    manifest: Path | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def done(self) -> list[VideoResult]:
        return [r for r in self.results if r.written]

    @property
    def skipped(self) -> list[VideoResult]:
        return [r for r in self.results if not r.written]

    @property
    def reported(self) -> list[VideoResult]:
        return [r for r in self.results if r.status == "gaps"]

    @property
    def frames_written(self) -> int:
        return sum(r.frames_written for r in self.done)

    def format(self) -> str:
        resumed = sum(r.resumed for r in self.results)
        incomplete = [r for r in self.done if not r.complete]
        lines = [f"prepare: {len(self.results)} video(s) -> {self.out_dir}",
                 f"  done: {len(self.done)} ({self.frames_written} frames written; {resumed} already complete "
                 f"from an earlier run), gaps reported: {len(self.reported)}, skipped: {len(self.skipped)}"
                 + (f", incomplete: {len(incomplete)}" if incomplete else "")]
        for r in self.results:
            if r.redone:
                lines.append(f"  redone {r.source}: {r.redone}")
        for r in incomplete:
            lines.append(f"  incomplete {r.source}: {r.decode_message} (prepared what was decoded; "
                         "complete: false in its track file; --strict skips such videos)")
        for r in self.skipped:
            lines.append(f"  skipped {r.source}: {r.message}")
        for r in self.reported:
            lines.append(f"  gaps {r.source}: no face in {r.describe_gaps()}")
        for r in self.done:
            if r.duplicates:
                lines.append(f"  duplicates {r.source}: {len(r.duplicates)} near-identical consecutive frame(s)")
        for p in self.problems:
            lines.append(f"  input problem {p}")
        if self.manifest is not None:
            lines.append(f"manifest: {self.manifest} ({len(self.done)} clips)")
        return "\n".join(lines)


# -- inputs --------------------------------------------------------------------------------------------
def _strip_suffix(rel: Path) -> str:
    return rel.with_suffix("").as_posix() if rel.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES else rel.as_posix()


def _walk(folder: Path) -> list[Path]:
    """Videos and frame folders (folders holding images and no videos) under ``folder``, sorted."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != TRACKS_DIR)
        here = Path(dirpath)
        videos = sorted(here / f for f in filenames if Path(f).suffix.lower() in VIDEO_SUFFIXES)
        found += videos
        if not videos and here != folder and any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in filenames):
            found.append(here)
    return found


def collect_jobs(inputs: Sequence[str | os.PathLike], label: str | None = None,
                 label_set: LabelSet | str | None = "basic7",
                 root: str | os.PathLike | None = None) -> tuple[list[Job], list[Problem]]:
    """Turn inputs into jobs. A ``.csv``/``.txt`` file is a manifest (labels, split and fold kept; names
    follow its relative paths); a folder contributes its videos and frame folders (names relative to
    it); any other file is a video. ``label`` (class name or index) labels every non-manifest input.
    Returns the jobs and the input problems (missing paths, manifest lines that do not parse)."""
    label_set = get_label_set(label_set) if isinstance(label_set, str) else label_set
    default_label = parse_label(label, label_set) if label is not None else UNLABELLED
    if label_set is not None and default_label != UNLABELLED and not 0 <= default_label < len(label_set):
        raise ValueError(f"label {label!r} is not a class of {label_set.name}: {', '.join(label_set.classes)}")
    jobs: list[Job] = []
    problems: list[Problem] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            base = Path(root) if root is not None else path.parent
            for item in read_manifest(path, base, label_set, problems):
                rel = Path(os.path.relpath(item.path.absolute(), base.absolute()))
                jobs.append(Job(item.path, _strip_suffix(rel), item.label, item.split, item.fold, item.source))
        elif path.is_dir():
            entries = _walk(path)
            if not entries:
                problems.append(Problem(str(path), "empty", "folder holds no videos or frame folders", str(path)))
            for entry in entries:
                jobs.append(Job(entry, _strip_suffix(entry.relative_to(path)), default_label, origin=str(entry)))
        elif path.is_file():
            jobs.append(Job(path, _strip_suffix(Path(path.name)), default_label, origin=str(path)))
        else:
            problems.append(Problem(str(path), "missing", "no such file or folder", str(path)))
    seen: dict[str, Job] = {}
    clashes = []
    for job in jobs:
        if job.name in seen:
            clashes.append(f"{seen[job.name].source} and {job.source} -> {job.name}")
        seen[job.name] = job
    if clashes:
        raise ValueError("two inputs would write the same output folder:\n  " + "\n  ".join(clashes)
                         + "\nrename one, or prepare them into different --out folders")
    return jobs, problems


# -- one video -----------------------------------------------------------------------------------------
def _track_path(out_dir: Path, name: str) -> Path:
    return out_dir / TRACKS_DIR / f"{name}.json"


def _runs(indices: Sequence[int], total: int) -> list[tuple[int, int]]:
    """Ranges ``(start, end)`` of frames ``0..total-1`` that are not in ``indices`` (sorted)."""
    gaps, expected = [], 0
    for i in [*indices, total]:
        if i > expected:
            gaps.append((expected, i - 1))
        expected = i + 1
    return gaps


def _settings(options: PrepareOptions, detector: FaceDetector | None) -> dict:
    """Everything that shapes a video's crops, as recorded in its track file."""
    return {**options.output_settings(), "detector": type(detector).__name__ if detector else "HaarFaceDetector"}


def _changed(recorded: dict | None, wanted: dict) -> str:
    """How ``recorded`` settings differ from ``wanted`` (empty when they match)."""
    if not isinstance(recorded, dict):
        return "its track file records no settings (written by an older peclip)"
    diffs = [f"{k} {recorded.get(k)!r} -> {v!r}" for k, v in wanted.items() if recorded.get(k) != v]
    return f"settings changed ({', '.join(diffs)})" if diffs else ""


def _load_complete(out_dir: Path, job: Job, settings: dict, strict: bool = False) -> tuple[VideoResult | None, str]:
    """An earlier run's result for ``job`` when it is complete and made with ``settings``; else ``None``
    and why it is redone (empty when there was nothing to reuse)."""
    track = _track_path(out_dir, job.name)
    if not track.is_file():
        return None, ""
    try:
        data = json.loads(track.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning("%s: unreadable track file (%s); redoing the video", track, err)
        return None, f"unreadable track file ({err})"
    if data.get("source") != str(job.source):
        return None, f"it was prepared from another source ({data.get('source')})"
    if data.get("status") not in ("done", "gaps", "no_face"):
        return None, ""
    changed = _changed(data.get("settings"), settings)
    if changed:
        return None, changed
    if strict and data.get("complete") is False:
        return None, "it decoded only in part and --strict asks for whole videos"
    folder = out_dir / job.name
    if data["status"] != "no_face" and (not folder.is_dir() or len(list_frames(folder)) != data.get("frames_written")):
        return None, "its frame folder does not match its track file"
    fields = {k: data[k] for k in ("source", "name", "status", "frames_total", "frames_written", "fps", "held_frames",
                                   "message", "complete", "frames_expected", "decode_errors", "decode_message")
              if k in data}
    result = VideoResult(**fields, resumed=True)
    result.gaps = [tuple(g) for g in data.get("gaps", [])]
    result.reported_gaps = [tuple(g) for g in data.get("reported_gaps", [])]
    dup = data.get("duplicates")
    result.duplicates = [tuple(d) for d in dup] if dup is not None else None
    return result, ""


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1))


class _CropWriter:
    """Writes a video's face crops as ``00001.jpg ...`` (numbered without holes) and records each one."""

    def __init__(self, folder: Path, options: PrepareOptions):
        self.folder, self.options = folder, options
        self.records: list[list] = []  # source frame, box, detected
        self.small: list[np.ndarray] = []  # 112 px copies for the duplicate report
        self.params = [int(cv2.IMWRITE_JPEG_QUALITY), options.jpeg_quality]

    def write(self, index: int, crop: np.ndarray, box: list[float], detected: bool) -> None:
        name = self.folder / f"{len(self.records) + 1:05d}.jpg"
        if not cv2.imwrite(str(name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), self.params):
            raise OSError(f"cannot write {name}")
        self.records.append([index, *box, int(detected)])
        if self.options.report_duplicates:
            self.small.append(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA))


def _crop_video(job: Job, options: PrepareOptions, detector: FaceDetector | None, writer: _CropWriter,
                result: VideoResult):
    """Decode ``job``'s video, track the face and write its crops; returns the tracker (for its hold).

    Frames held through a miss are written only when the face comes back; the frames of a track that
    awaits confirmation only when it is confirmed.
    """
    pending: list[tuple[int, np.ndarray, list[float]]] = []
    tentative: list[tuple[int, np.ndarray, list[float]]] = []
    with open_video(job.source) as video:
        result.fps = video.fps
        tracker = tracker_for(options, video.fps, detector, num_frames=video.num_frames)
        for frame in video:
            result.frames_total += 1
            found = tracker.update(frame.image)
            if found.box is None:
                pending.clear()  # held frames after which the face never came back: not a face
                if found.face is None:
                    tentative.clear()  # a track that was not confirmed died
                else:
                    # A face seen while its track awaits confirmation: kept if the track is confirmed.
                    side = max(found.face.width, found.face.height) * (1 + 2 * options.margin)
                    box = Box.square(*found.face.center, side)
                    tentative.append((frame.index, crop_face(frame.image, box, options.size), box.as_list()))
                continue
            crop = crop_face(frame.image, found.box, options.size)  # (S, S, 3)
            if found.held:
                pending.append((frame.index, crop, found.box.as_list()))
                continue
            for index, early_crop, early_box in tentative:
                writer.write(index, early_crop, early_box, detected=True)
            for index, held_crop, held_box in pending:
                writer.write(index, held_crop, held_box, detected=False)
            result.held_frames += len(pending)
            tentative.clear()
            pending.clear()
            writer.write(frame.index, crop, found.box.as_list(), detected=True)
        report = video.report()
    result.complete, result.frames_expected = report.complete, report.frames_expected
    result.decode_errors, result.decode_message = report.decode_errors, report.describe()
    if not report.complete:
        if options.strict:
            raise IncompleteVideoError(f"incomplete video (strict): {report.describe()}")
        log.warning("%s: incomplete video: %s; preparing what was decoded", job.source, report.describe())
    return tracker


def prepare_one(job: Job, out_dir: Path, options: PrepareOptions, detector: FaceDetector | None = None) -> VideoResult:
    """Prepare one video (see the module docstring); never raises for a bad video, reports it instead."""
    start = time.perf_counter()
    settings = _settings(options, detector)
    redone = ""
    if not options.force:
        previous, redone = _load_complete(out_dir, job, settings, options.strict)
        if previous is not None:
            return previous
        if redone:
            log.info("%s: redoing: %s", job.source, redone)
    folder, track_file = out_dir / job.name, _track_path(out_dir, job.name)
    track_file.unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)  # partial output of an interrupted run
    folder.mkdir(parents=True)
    result = VideoResult(str(job.source), job.name, "done", redone=redone)
    writer = _CropWriter(folder, options)
    try:
        tracker = _crop_video(job, options, detector, writer, result)
    except (VideoReadError, FileNotFoundError, OSError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        result.status, result.message = "error", str(err)
        result.seconds = time.perf_counter() - start
        return result
    _judge(result, writer, tracker.max_gap_frames, folder)
    if options.report_duplicates and len(writer.small) > 1:
        result.duplicates = [(int(i), float(c)) for i, c in duplicate_frames(np.stack(writer.small),
                                                                             options.duplicate_threshold)]
    result.seconds = time.perf_counter() - start
    data = {k: v for k, v in asdict(result).items() if k not in ("resumed", "redone")}
    data.update({"frames_decoded": result.frames_total, "settings": settings,
                 "size": options.size, "margin": options.margin, "max_gap_s": options.max_gap,
                 "hold_frames": tracker.max_gap_frames, "origin": job.origin,
                 "frames_columns": ["source_frame", "x0", "y0", "x1", "y1", "detected"], "frames": writer.records})
    _write_json(track_file, data)  # last: marks the video complete
    return result


def _worker_init(parent: int) -> None:
    """Runs in each worker process: die with the parent, leave Ctrl-C to it.

    On Linux the kernel sends the worker SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); everywhere
    a watchdog thread also checks once a second that the parent is still there. Without this, a
    ``prepare`` killed with SIGKILL left its workers running (and then idle, holding their memory).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            log.debug("prctl(PR_SET_PDEATHSIG) unavailable; the watchdog thread alone ends orphaned workers")
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)

    def watchdog() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watchdog, name="peclip-parent-watchdog", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End a pool's workers at once (their partial outputs are redone by the next run)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _judge(result: VideoResult, writer: _CropWriter, hold: int, folder: Path) -> None:
    """The video's status from what was written: done, gaps (longer than the hold) or no face."""
    result.frames_written = len(writer.records)
    result.gaps = _runs([r[0] for r in writer.records], result.frames_total)
    result.reported_gaps = [(s, e) for s, e in result.gaps if e - s + 1 > hold]
    if not writer.records:
        shutil.rmtree(folder, ignore_errors=True)
        result.status = "no_face"
        result.message = f"no face found in {result.frames_total} frames"
    elif result.reported_gaps:
        result.status = "gaps"
        result.message = f"no face in {result.describe_gaps()}"


def prepare_videos(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                   options: PrepareOptions | None = None, label: str | None = None,
                   label_set: LabelSet | str | None = "basic7", root: str | os.PathLike | None = None,
                   workers: int = 1, detector: FaceDetector | None = None, progress: bool = True) -> PrepareSummary:
    """Prepare every input video into ``out_dir`` and write ``out_dir/manifest.csv``; see the module
    docstring. Class names (``label``, manifest labels) refer to ``label_set``, whose names the manifest
    gets. ``workers > 1`` runs videos in parallel processes (``detector`` must then pickle)."""
    options = options or PrepareOptions()
    label_set = get_label_set(label_set) if isinstance(label_set, str) else label_set
    out_dir = check_output_dir(out_dir, "--out")  # before any video is read
    jobs, problems = collect_jobs(inputs, label, label_set, root)
    for p in problems:
        log.warning("input problem: %s", p)
    results: list[VideoResult] = []
    bar = tqdm(total=len(jobs), desc="prepare", unit="video", disable=not progress)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(prepare_one(job, out_dir, options, detector))
            bar.update()
    else:
        # The platform's default start method: fork on Linux (a spawned worker would re-import torch through
        # the peclip package, seconds per worker). OpenCV hangs in a forked child whose parent used its
        # thread pool, so the parent runs OpenCV single-threaded while the workers live.
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(),
                                   initializer=_worker_init, initargs=(os.getpid(),))
        try:
            futures = {pool.submit(prepare_one, job, out_dir, options, detector): i for i, job in enumerate(jobs)}
            done: dict[int, VideoResult] = {}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                bar.update()
        except BaseException:  # Ctrl-C or an error: stop the workers now rather than after their videos
            _stop_workers(pool)
            raise
        else:
            pool.shutdown()
        finally:
            cv2.setNumThreads(threads)
        results = [done[i] for i in range(len(jobs))]
    bar.close()
    by_name = {job.name: job for job in jobs}
    items = [ClipItem(out_dir / r.name, by_name[r.name].label, r.frames_written, by_name[r.name].split,
                      by_name[r.name].fold, by_name[r.name].origin) for r in results if r.written]
    manifest = write_csv_manifest(items, out_dir / MANIFEST_NAME, out_dir, label_set) if items else None
    summary = PrepareSummary(out_dir, results, manifest, problems)
    for r in summary.skipped:
        log.warning("skipped %s: %s", r.source, r.message)
    for r in summary.reported:
        log.warning("reported %s: %s", r.source, r.message)
    return summary

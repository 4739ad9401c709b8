"""``peclip prepare``: raw videos -> face-cropped frame folders + a manifest ready for training.

For every input video (a file, the videos and frame folders under a folder, or the rows of a
manifest) the frames are decoded once and :class:`~peclip.faces.FaceTracks` follows every face as a
person (``--largest-face`` keeps only the biggest). Each track is one clip: every frame with its face
is cropped (aligned on the 5 landmarks by default, or square around the box with ``--no-align``),
resized and written as ``<out>/<name>/00001.jpg ...`` for the first person and
``<out>/<name>_face<k>/...`` for person ``k`` (numbered without holes, so a folder is a clip), with a
manifest row each. The few frames a new track needs to be confirmed are written too once it is.
Frames without a face:

- a short miss (up to ``max_gap`` seconds) keeps the last box, when the face comes back afterwards;
- a longer one ends the track (a face that comes back is a new track, a new clip); frames where no
  face is seen for longer than the hold are *reported* as gaps of the video (frame range and seconds),
  in the summary and in its track file;
- a video with no face at all is *skipped* (reported, nothing written).

A track shorter than ``min_track_seconds`` (and shorter than the video) is dropped: no clip, no
manifest row; the summary and the track file (``dropped_tracks``) say how many and which.

Each video's tracks (per track: the box per written frame and, with ``report_duplicates``, its
near-identical consecutive crops; gaps, the detector and the alignment) go to
``<out>/_tracks/<name>.json``, written last: it is the completion marker. It records every setting that shapes the crops
(:meth:`PrepareOptions.output_settings` and the detector) and what decoding found (``complete``,
``frames_decoded``, ``frames_expected``, ``decode_errors``: a truncated or damaged video is prepared as
far as it decodes and reported, or skipped with ``strict``). A second run skips videos whose track file
says they are complete *with the same settings*, and redoes the others, saying why (a folder without a
track file is partial; a changed ``--size`` or ``--margin`` redoes it). The manifest
``<out>/manifest.csv`` lists the clips of this run with paths relative to ``<out>``, and
``<out>/faces.json`` says how the crops were made (detector, alignment, size, margin) so that
prediction can crop the same way.

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
from peclip.faces.align import face_crop
from peclip.faces.detectors import FaceDetector, resolved
from peclip.faces.options import FACES_RECORD
from peclip.faces.tracking import tracker_for
from peclip.labels import LabelSet, get_label_set

log = logging.getLogger(__name__)

TRACKS_DIR = "_tracks"
MANIFEST_NAME = "manifest.csv"
#: how this folder's crops were made (detector, alignment, size, margin): training runs and predict read it
FACES_NAME = FACES_RECORD
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
    duplicates: dict[int, list[tuple[int, float]]] | None = None  # track -> (crop index, CSIM to the one before)
    dropped_tracks: list[tuple[int, int]] = field(default_factory=list)  # (track, frames): shorter than the minimum
    clips: list[tuple[int, str, int]] = field(default_factory=list)  # (track, folder name, frames written)
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
            if r.duplicates and any(r.duplicates.values()):
                per = ", ".join(f"person {t}: {len(d)}" for t, d in sorted(r.duplicates.items()))
                lines.append(f"  duplicates {r.source}: near-identical consecutive frames ({per})")
        for r in self.results:
            if r.dropped_tracks:
                lines.append(f"  short tracks {r.source}: {len(r.dropped_tracks)} dropped (track, frames: "
                             f"{', '.join(f'{t}: {n}' for t, n in r.dropped_tracks)})")
        for p in self.problems:
            lines.append(f"  input problem {p}")
        if self.manifest is not None:
            clips = sum(len(r.clips) for r in self.done)
            lines.append(f"manifest: {self.manifest} ({clips} clips from {len(self.done)} videos)")
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


def clip_name(name: str, track: int) -> str:
    """The output folder of a video's face track: ``<name>`` for the first person, ``<name>_face<k>`` after."""
    return name if track == 0 else f"{name}_face{track}"


def _settings(options: PrepareOptions, detector: FaceDetector | None) -> dict:
    """Everything that shapes a video's crops, as recorded in its track file (a detector object given in
    place of ``options.detector`` is recorded by its class)."""
    return {**options.output_settings(), **({"detector": type(detector).__name__} if detector is not None else {})}


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
    clips = data.get("tracks", [])
    for clip in clips:
        folder = out_dir / clip["name"]
        if not folder.is_dir() or len(list_frames(folder)) != clip.get("frames_written"):
            return None, "its frame folders do not match its track file"
    fields = {k: data[k] for k in ("source", "name", "status", "frames_total", "frames_written", "fps", "held_frames",
                                   "message", "complete", "frames_expected", "decode_errors", "decode_message")
              if k in data}
    result = VideoResult(**fields, resumed=True)
    result.gaps = [tuple(g) for g in data.get("gaps", [])]
    result.reported_gaps = [tuple(g) for g in data.get("reported_gaps", [])]
    result.clips = [(c["track"], c["name"], c["frames_written"]) for c in clips]
    if any("duplicates" in c for c in clips):
        result.duplicates = {c["track"]: [tuple(d) for d in c.get("duplicates", [])] for c in clips}
    result.dropped_tracks = [tuple(d) for d in data.get("dropped_tracks", [])]
    return result, ""


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1))


class _CropWriter:
    """Writes one face track's crops as ``00001.jpg ...`` (numbered without holes) and records each one."""

    def __init__(self, folder: Path, options: PrepareOptions, track: int = 0):
        self.folder, self.options, self.track = folder, options, track
        self.records: list[list] = []  # source frame, box, detected
        self.small: list[np.ndarray] = []  # 112 px copies for the duplicate report
        self.params = [int(cv2.IMWRITE_JPEG_QUALITY), options.jpeg_quality]

    def write(self, index: int, crop: np.ndarray, box: list[float], detected: bool) -> None:
        if not self.records:
            self.folder.mkdir(parents=True, exist_ok=True)
        name = self.folder / f"{len(self.records) + 1:05d}.jpg"
        if not cv2.imwrite(str(name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), self.params):
            raise OSError(f"cannot write {name}")
        self.records.append([index, *box, int(detected)])
        if self.options.report_duplicates:
            self.small.append(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA))


def _crop_video(job: Job, options: PrepareOptions, detector: FaceDetector | None, out_dir: Path,
                result: VideoResult) -> tuple[object, dict[int, _CropWriter]]:
    """Decode ``job``'s video, track every face and write each track's crops; returns the tracker (for its
    hold) and the writers by track id.

    Per track, frames held through a miss are written only when the face comes back; the frames of a
    track that awaits confirmation only when it is confirmed. ``--largest-face`` (``max_faces=1``) keeps
    one track.
    """
    Early = list[tuple[int, np.ndarray, list[float]]]
    tentative: dict[int, Early] = {}  # key -> crops before confirmation
    pending: dict[int, Early] = {}  # key -> crops held through a miss
    writers: dict[int, _CropWriter] = {}
    with open_video(job.source) as video:
        result.fps = video.fps
        tracker = tracker_for(options, video.fps, detector, num_frames=video.num_frames)
        for frame in video:
            result.frames_total += 1
            faces = tracker.update(frame.image)
            seen = {f.key for f in faces}
            for store in (tentative, pending):  # tracks that died or were dropped: their early/held crops go
                for key in [k for k in store if k not in seen]:
                    del store[key]
            for found in faces:
                crop = face_crop(frame.image, found.face, found.box, options.size, options.align, options.margin)
                entry = (frame.index, crop, found.box.as_list())  # crop (S, S, 3)
                if found.track is None:
                    tentative.setdefault(found.key, []).append(entry)
                    continue
                if found.held:
                    pending.setdefault(found.key, []).append(entry)
                    continue
                if found.track not in writers:
                    writers[found.track] = _CropWriter(out_dir / clip_name(job.name, found.track), options,
                                                       found.track)
                writer = writers[found.track]
                for index, early_crop, early_box in tentative.pop(found.key, []):
                    writer.write(index, early_crop, early_box, detected=True)
                for index, held_crop, held_box in pending.pop(found.key, []):
                    writer.write(index, held_crop, held_box, detected=False)
                writer.write(frame.index, crop, found.box.as_list(), detected=True)
        report = video.report()
    result.complete, result.frames_expected = report.complete, report.frames_expected
    result.decode_errors, result.decode_message = report.decode_errors, report.describe()
    if not report.complete:
        if options.strict:
            raise IncompleteVideoError(f"incomplete video (strict): {report.describe()}")
        log.warning("%s: incomplete video: %s; preparing what was decoded", job.source, report.describe())
    return tracker, writers


def _remove_outputs(out_dir: Path, job: Job) -> None:
    """Delete the folders an earlier (perhaps interrupted) run wrote for ``job``: ``<name>`` and ``<name>_face<k>``."""
    folder = out_dir / job.name
    if folder.exists():
        shutil.rmtree(folder)
    parent = folder.parent
    if parent.is_dir():
        for other in parent.glob(f"{folder.name}_face*"):
            if other.is_dir() and other.name[len(folder.name) + 5:].isdigit():
                shutil.rmtree(other)


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
    track_file = _track_path(out_dir, job.name)
    track_file.unlink(missing_ok=True)
    _remove_outputs(out_dir, job)  # partial output of an interrupted run
    result = VideoResult(str(job.source), job.name, "done", redone=redone)
    try:
        tracker, writers = _crop_video(job, options, detector, out_dir, result)
    except (VideoReadError, FileNotFoundError, OSError) as err:
        _remove_outputs(out_dir, job)
        result.status, result.message = "error", str(err)
        result.seconds = time.perf_counter() - start
        return result
    ordered = _drop_short(result, [writers[t] for t in sorted(writers)], options)
    _judge(result, ordered, tracker.max_gap_frames)
    if options.report_duplicates:
        result.duplicates = {w.track: [(int(i), float(c)) for i, c in duplicate_frames(
            np.stack(w.small), options.duplicate_threshold)] if len(w.small) > 1 else [] for w in ordered}
    result.seconds = time.perf_counter() - start
    data = {k: v for k, v in asdict(result).items() if k not in ("resumed", "clips", "redone", "duplicates")}
    data.update({"frames_decoded": result.frames_total, "settings": settings,
                 "size": options.size, "margin": options.margin, "max_gap_s": options.max_gap,
                 "hold_frames": tracker.max_gap_frames, "origin": job.origin, **face_record(options),
                 "frames_columns": ["source_frame", "x0", "y0", "x1", "y1", "detected"],
                 "tracks": [{"track": w.track, "name": clip_name(job.name, w.track), "frames_written": len(w.records),
                             "frames": w.records,
                             **({} if result.duplicates is None else {"duplicates": result.duplicates[w.track]})}
                            for w in ordered]})
    _write_json(track_file, data)  # last: marks the video complete
    return result


def _drop_short(result: VideoResult, writers: list[_CropWriter], options: PrepareOptions) -> list[_CropWriter]:
    """The writers of tracks with at least ``options.min_track_frames`` frames; the others' folders are
    deleted and listed in ``result.dropped_tracks``."""
    need = options.min_track_frames(result.fps, result.frames_total)
    kept = []
    for writer in writers:
        if len(writer.records) >= need:
            kept.append(writer)
            continue
        result.dropped_tracks.append((writer.track, len(writer.records)))
        if writer.folder.exists():
            shutil.rmtree(writer.folder)
    if result.dropped_tracks:
        log.info("%s: dropped %d face track(s) shorter than %d frames (%g s): %s", result.source,
                 len(result.dropped_tracks), need, options.min_track_seconds, result.dropped_tracks)
    return kept


def face_record(options: PrepareOptions) -> dict:
    """How the crops were made, as recorded in track files and ``faces.json`` (predict reads it back)."""
    return {"detector": options.detector, "align": options.align, "size": options.size, "margin": options.margin,
            "detect_size": options.detect_size, "min_face": options.min_face, "refine_tilted": options.refine_tilted}


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


def _judge(result: VideoResult, writers: list[_CropWriter], hold: int) -> None:
    """The video's status from what was written: done, gaps (no face for longer than the hold) or no face."""
    result.clips = [(w.track, clip_name(result.name, w.track), len(w.records)) for w in writers]
    result.frames_written = sum(len(w.records) for w in writers)
    result.held_frames = sum(1 for w in writers for r in w.records if not r[-1])
    covered = sorted({r[0] for w in writers for r in w.records})
    result.gaps = _runs(covered, result.frames_total)
    result.reported_gaps = [(s, e) for s, e in result.gaps if e - s + 1 > hold]
    if not result.frames_written:
        result.status = "no_face"
        result.message = f"no face found in {result.frames_total} frames"
        if result.dropped_tracks:
            result.message = (f"no face track long enough in {result.frames_total} frames "
                              f"({len(result.dropped_tracks)} shorter one(s) dropped; --min-track-seconds)")
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
    options = resolved(options or PrepareOptions()) if detector is None else (options or PrepareOptions())
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
    items = [ClipItem(out_dir / folder, by_name[r.name].label, frames, by_name[r.name].split,
                      by_name[r.name].fold, by_name[r.name].origin)
             for r in results if r.written for _, folder, frames in r.clips]
    _write_json(out_dir / FACES_NAME, face_record(options))
    manifest = write_csv_manifest(items, out_dir / MANIFEST_NAME, out_dir, label_set) if items else None
    summary = PrepareSummary(out_dir, results, manifest, problems)
    for r in summary.skipped:
        log.warning("skipped %s: %s", r.source, r.message)
    for r in summary.reported:
        log.warning("reported %s: %s", r.source, r.message)
    return summary

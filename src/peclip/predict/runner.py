"""``predict_video``: one video (or image) -> :class:`~peclip.predict.result.PredictionResult`.

The video is decoded once, frame by frame. Each frame goes through the face tracker once and keeps
only its face crop at the model's input size; frames are assigned to sliding windows as they come
(:class:`~peclip.predict.windows.SlidingWindows`), each completed window picks ``T`` of its face
frames, and the windows are scored in batches (:class:`~peclip.predict.scorer.WindowScorer`).
Memory therefore holds about one window of face crops, however long the video.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from peclip.data.csim_sampling import csim_frame_indices
from peclip.data.sampling import tsn_indices
from peclip.data.video import IncompleteVideoError
from peclip.faces.options import FaceOptions
from peclip.model import PEClip
from peclip.predict.compound import check_compound_support, compound_names, compound_scores
from peclip.predict.detect_plan import SampledFrames
from peclip.predict.face_record import resolve_face_options
from peclip.predict.models import for_precision
from peclip.predict.options import RANDOM_WEIGHTS_NOTE, PredictOptions
from peclip.predict.prefetch import prefetch
from peclip.predict.result import PredictionResult
from peclip.predict.scorer import WindowScorer
from peclip.predict.source import FaceFrameSource
from peclip.predict.windows import SlidingWindows, TimedFrame, Window

log = logging.getLogger(__name__)


@dataclass
class _Scored:
    window: Window
    frames: int
    face_frames: int
    face: bool
    track: int | None
    first_index: int  # the video frame index of the window's first frame (-1 when it has none)
    probabilities: np.ndarray | None = None


def sample_clip(window: Window, num_frames: int, sampling: str, track: int | None = ...) -> list[TimedFrame]:
    """``num_frames`` of the window's face frames (of ``track`` when given): TSN segment centres, or the
    CSIM max-change pick."""
    faces = window.face_frames if track is ... else window.face_frames_of(track)
    if sampling == "csim":
        indices = csim_frame_indices(np.stack([f.crop for f in faces]), num_frames)
    else:
        indices = tsn_indices(len(faces), num_frames, train=False)
    return [faces[int(i)] for i in indices]


def predict_frames(model: PEClip, frames: Iterable[TimedFrame], duration_of, options: PredictOptions,
                   scorer: WindowScorer | None = None) -> list[_Scored]:
    """Window and score a stream of frames; ``duration_of()`` gives the video's duration once the stream ends."""
    sliding = SlidingWindows(options.window, options.stride)
    scorer = scorer or WindowScorer(model, options.frame_cache, precision=getattr(model, "inference_precision", "fp32"))
    num_frames = model.preprocess.num_frames
    done: list[_Scored] = []
    pending: list[tuple[_Scored, list[TimedFrame]]] = []

    def flush() -> None:
        if not pending:
            return
        probabilities = scorer.score([clip for _, clip in pending])  # (B, C)
        bad = ~np.isfinite(probabilities).all(axis=1)
        if bad.any():
            entry = pending[int(np.flatnonzero(bad)[0])][0]
            raise ValueError(f"the model gave NaN or inf scores for the window {entry.window.start:.2f}-"
                             f"{entry.window.end:.2f} s ({int(bad.sum())} of {len(pending)} windows in its batch); "
                             "its weights are damaged or overflow (try without --int8 / in float32)")
        for (entry, _), probs in zip(pending, probabilities, strict=True):
            entry.probabilities = probs
        # windows close in time order: no later window starts before the last one's first frame
        scorer.forget_before(pending[-1][0].first_index)
        pending.clear()

    def handle(window: Window) -> None:
        # One entry per person (face track) seen in enough of the window's frames; one without a face if none.
        first = window.frames[0].index if window.frames else -1
        tracks = [t for t in window.tracks() if window.has_face(options.min_face_fraction, t)]
        if not tracks:
            faces = max((len(window.face_frames_of(t)) for t in window.tracks()), default=0)
            done.append(_Scored(window, len(window.frames), faces, False, None, first))
        for track in tracks:
            entry = _Scored(window, len(window.frames), len(window.face_frames_of(track)), True, track, first)
            done.append(entry)
            pending.append((entry, sample_clip(window, num_frames, options.sampling, track)))
        window.frames = []  # only the sampled clips keep their crops, until their batch is scored
        if len(pending) >= options.batch_size:
            flush()

    for frame in frames:
        for window in sliding.push(frame):
            handle(window)
    for window in sliding.finish(duration_of()):
        handle(window)
    flush()
    return done


#: the face settings a prediction records in its JSON (``settings.faces``)
FACE_RECORD = ("detector", "align", "margin", "detect_size", "min_face", "max_faces", "min_face_size", "detect_every",
               "refine_tilted")


def predict_video(model: PEClip, path: str | os.PathLike, options: PredictOptions | None = None, *,
                  detector=None, face_options=None, face_settings: dict | None = None,
                  overlay: str | os.PathLike | None = None, progress: bool = False,
                  **option_kwargs) -> PredictionResult:
    """Predict the emotion over time in the video (or image) at ``path``.

    ``options`` (or keyword arguments of :class:`~peclip.predict.options.PredictOptions`, e.g.
    ``window=2.0, stride=1.0, compound=True``) say how windows are cut and scored. Every face is tracked
    as a person: the timeline has a row per window and person (``track``; a window without a face has one
    row with ``face`` false). ``detector`` replaces the face detector ``face_options.detector`` names
    (any :class:`peclip.faces.FaceDetector`); ``face_options`` (a :class:`peclip.faces.FaceOptions`, or
    ``prepare``'s options) changes the face settings, which default to those of ``peclip prepare``, and
    for a checkpoint to the detector and alignment its training data was cropped with when its run
    recorded them (:func:`peclip.predict.face_record.resolve_face_options`); crops are cut at the model's
    input size; ``face_settings`` (a dict of :class:`~peclip.faces.FaceOptions` fields, e.g.
    ``{"detector": "haar", "align": False}``) changes single settings on top. ``overlay``
    writes an MP4 with the face box and the emotion drawn on every frame; ``progress`` shows a progress
    bar over frames.

    ``options.precision`` is applied here when the model was not prepared for it
    (:func:`peclip.predict.models.for_precision`; an int8 copy is then made for this one call: for many
    videos, prepare the model once, as ``peclip predict`` does). Decoding and the face stage run
    ``options.prefetch_frames`` ahead of the model on their own thread.
    """
    if options is not None and option_kwargs:
        raise ValueError(f"give either options or keyword settings, not both (got {sorted(option_kwargs)})")
    options = options or PredictOptions(**option_kwargs)
    if options.compound:
        check_compound_support(model.class_names)
    model.eval()
    if model.random_weights:
        log.warning("%s has random weights: %s", model.config.name, RANDOM_WEIGHTS_NOTE)
    model = for_precision(model, options.precision)
    start = time.perf_counter()
    face_options = resolve_face_options(model, face_options, face_settings)
    source = FaceFrameSource(path, model.preprocess.size, detect_faces=options.detect_faces, detector=detector,
                             face_options=face_options, progress=progress)
    if options.detects_sampled(model.inference_precision) and source.fps:
        source.detect_at = SampledFrames(source.fps, options.window, options.stride, model.preprocess.num_frames)
        log.info("face detection on the frames the windows sample (detect_frames=%s, precision %s)",
                 options.detect_frames, model.inference_precision)
    frames = prefetch(source, options.prefetch_frames, name=f"peclip-faces-{source.path.name}")
    entries = predict_frames(model, frames, lambda: source.duration, options)
    elapsed = time.perf_counter() - start
    decode = _check_decode(source, options.strict)
    result = _assemble(model, source, entries, options, elapsed, face_options)
    result.decode = decode
    _report(result)
    if overlay is not None:
        result.write_overlay(overlay, progress=progress)
    return result


def _assemble(model: PEClip, source, entries: list[_Scored], options: PredictOptions,
              elapsed: float, face_options: FaceOptions) -> PredictionResult:
    num_classes = len(model.class_names)
    probabilities = np.full((len(entries), num_classes), np.nan)  # (W, C), NaN where no face
    for i, entry in enumerate(entries):
        if entry.probabilities is not None:
            probabilities[i] = entry.probabilities
    compound = None
    if options.compound:
        compound = compound_scores(probabilities, model.class_names)  # (W, 7)
    return PredictionResult(
        source=str(source.path),
        class_names=list(model.class_names),
        starts=np.array([e.window.start for e in entries], dtype=np.float64),
        ends=np.array([e.window.end for e in entries], dtype=np.float64),
        face=np.array([e.face for e in entries], dtype=bool),
        tracks=[e.track for e in entries],
        frames=np.array([e.frames for e in entries], dtype=np.int64),
        face_frames=np.array([e.face_frames for e in entries], dtype=np.int64),
        probabilities=probabilities,
        duration=source.duration,
        fps=source.fps,
        num_video_frames=source.frames_read,
        frame_times=source.frame_times,
        frame_boxes=source.frame_boxes,
        compound_names=compound_names() if options.compound else [],
        compound=compound,
        settings={"model": model.config.name, "pretrained": model.pretrained, "checkpoint": model.checkpoint,
                  "random_weights": model.random_weights, "num_frames": model.preprocess.num_frames,
                  "input_size": model.preprocess.size, "architecture": model.architecture,
                  # light models have no text tower: no class texts, no templates
                  "class_texts": list(model.class_texts) if model.class_texts is not None else None,
                  "text_templates": list(getattr(model.config, "text_templates", [])), **options.to_dict(),
                  "faces": {k: getattr(face_options, k) for k in FACE_RECORD},
                  "precision_used": getattr(model, "inference_precision", "fp32"),
                  "detect_frames_used": "sampled" if source.detect_at is not None else "every"},
        elapsed=elapsed,
    )


def _check_decode(source: FaceFrameSource, strict: bool) -> dict:
    """The decode report as the result records it; an incomplete video is a warning, or an error when strict."""
    report = source.decode_report
    if report is None:
        return {}
    decode = report.to_dict()
    if not report.complete:
        message = f"{source.path}: incomplete video: {report.describe()}"
        if strict:
            raise IncompleteVideoError(message + " (strict: no result written)")
        log.warning("%s; the timeline covers only what was decoded (marked complete: false)", message)
        decode["decode_warning"] = report.describe()
    return decode


def _report(result: PredictionResult) -> None:
    windows = len(result.starts)
    faces = int(result.face.sum())
    if faces == 0:
        log.warning("no face found in %s (%d frames, %d windows): every window is marked face=false and has no "
                    "probabilities. If the video shows a face that is already cropped, turn face detection off "
                    "(detect_faces=False, --no-face-detection)", result.source, result.num_video_frames, windows)
    elif faces < windows:
        log.info("%s: %d of %d windows have no face (marked face=false, no probabilities)", result.source,
                 windows - faces, windows)
    speed = result.speed
    log.info("%s: %.1f s of video, %d windows in %.2f s%s", result.source, result.duration, windows, result.elapsed,
             f" ({speed:.2f} video-s/s)" if speed else "")

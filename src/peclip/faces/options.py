"""Face-stage settings shared by ``peclip prepare`` and prediction: the one home of their defaults.

``prepare`` (:class:`peclip.data.prepare_options.PrepareOptions` extends this class) and ``predict``
build their trackers from the same :class:`FaceOptions` (:func:`peclip.faces.tracking.tracker_for`),
so a model sees the same crops at prediction as at training. :class:`~peclip.faces.FaceTracker` and
:class:`~peclip.faces.HaarFaceDetector` take their defaults from here. No heavy imports: the CLI reads
these defaults for its ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass

SELECTS = ("largest", "center")


@dataclass
class FaceOptions:
    """How faces are found and tracked (``peclip prepare`` / ``peclip predict`` flags in brackets).

    ``margin`` [--margin] added on each side, as a fraction of the face box; ``max_gap`` [--max-gap]
    seconds a missed face keeps its last box; ``detect_size`` [--detect-size] shorter side the
    detector sees; ``min_face`` [--min-face] smallest face as a fraction of the shorter side;
    ``select`` [--select] which face starts a track (``largest`` or ``center``); ``smoothing`` weight
    of a new detection in the box average.
    """

    margin: float = 0.25
    max_gap: float = 0.5
    detect_size: int = 240
    min_face: float = 0.1
    select: str = "largest"
    smoothing: float = 0.6

    def __post_init__(self) -> None:
        if self.select not in SELECTS:
            raise ValueError(f"select={self.select!r} is not valid; choose one of: {', '.join(SELECTS)}")
        if self.margin < 0 or self.max_gap < 0:
            raise ValueError(f"margin={self.margin} and max_gap={self.max_gap} must be >= 0")
        if not isinstance(self.detect_size, int) or self.detect_size < 48:
            raise ValueError(f"detect_size={self.detect_size!r} is too small; use at least 48 (default 240)")
        if not 0 < self.min_face < 1:
            raise ValueError(f"min_face={self.min_face} must be a fraction of the shorter side in (0, 1)")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing={self.smoothing} must be in (0, 1] (weight of the new detection)")

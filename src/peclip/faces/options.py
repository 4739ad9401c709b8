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
#: the file, beside a prepared manifest and in a training run folder, that says how the face crops were made
FACES_RECORD = "faces.json"
#: the built-in face detectors (peclip.faces.detectors.DETECTORS), the preferred first
DETECTOR_NAMES = ("retinaface", "haar")
#: the default detector choice: retinaface when its weights package is installed, else haar (with a warning)
AUTO = "auto"


@dataclass
class FaceOptions:
    """How faces are found and tracked (``peclip prepare`` / ``peclip predict`` flags in brackets).

    ``margin`` [--margin] added on each side, as a fraction of the face box; ``max_gap`` [--max-gap]
    seconds a missed face keeps its last box; ``detect_size`` [--detect-size] shorter side the
    detector sees; ``min_face`` [--min-face] smallest face as a fraction of the shorter side;
    ``select`` [--select] which faces come first when only ``max_faces`` may be tracked (``largest`` or
    ``center``); ``smoothing`` weight of a new detection in the box average.

    ``detector`` [--detector] a name of :data:`DETECTOR_NAMES` (``retinaface``: 5 landmarks; ``haar``:
    boxes only, needs nothing extra) or ``auto`` (the default: retinaface when its package is installed,
    else haar with a warning that names the ``pip install``); ``align`` [--align/--no-align] crops the
    face by a similarity transform of its 5 landmarks onto a canonical template (eyes level, fixed eye distance;
    :mod:`peclip.faces.align`) instead of a square around the box (a detector without landmarks always
    gives square crops); ``max_faces`` [--max-faces] faces tracked at once (None: all);
    ``min_face_size`` [--min-face-size] smallest face side in px of the full frame (0: no limit beyond
    ``min_face``); ``detect_every`` [--detect-every] runs the detector on every k-th frame and moves the
    tracks by their motion in between; ``refine_tilted`` [--refine-tilted] detects the landmarks of a
    face tilted 15 degrees or more a second time on the face turned upright
    (:mod:`peclip.faces.refine`: better aligned crops of tilted heads, one more detector run per tilted
    face; off by default so the face stage's cost is unchanged).
    """

    margin: float = 0.25
    max_gap: float = 0.5
    detect_size: int = 240
    min_face: float = 0.05
    select: str = "largest"
    smoothing: float = 0.6
    detector: str = AUTO
    align: bool = True
    max_faces: int | None = None
    min_face_size: float = 0.0
    detect_every: int = 2
    refine_tilted: bool = False

    def __post_init__(self) -> None:
        if self.select not in SELECTS:
            raise ValueError(f"select={self.select!r} is not valid; choose one of: {', '.join(SELECTS)}")
        if self.margin < 0 or self.max_gap < 0:
            raise ValueError(f"margin={self.margin} and max_gap={self.max_gap} must be >= 0")
        if not isinstance(self.detect_size, int) or self.detect_size < 48:
            raise ValueError(f"detect_size={self.detect_size!r} is too small; use at least 48 (default 240)")
        if not 0 < self.min_face < 1:
            raise ValueError(f"min_face={self.min_face} must be a fraction of the shorter side in (0, 1)")
        if self.detector not in (AUTO, *DETECTOR_NAMES):
            raise ValueError(f"unknown face detector {self.detector!r}; choose one of: "
                             f"{', '.join((AUTO, *DETECTOR_NAMES))}")
        if self.max_faces is not None and (not isinstance(self.max_faces, int) or self.max_faces < 1):
            raise ValueError(f"max_faces={self.max_faces!r} must be a positive integer, or None for all faces")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size={self.min_face_size} must be >= 0 px")
        if not isinstance(self.detect_every, int) or self.detect_every < 1:
            raise ValueError(f"detect_every={self.detect_every!r} must be a positive integer (1: every frame)")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing={self.smoothing} must be in (0, 1] (weight of the new detection)")


def read_face_record(data: dict) -> FaceOptions:
    """The :class:`FaceOptions` a ``faces.json`` record describes (its other keys, e.g. ``size``, ignored)."""
    fields = {k: data[k] for k in ("detector", "align", "margin", "detect_size", "min_face", "refine_tilted")
              if k in data}
    return FaceOptions(**fields)

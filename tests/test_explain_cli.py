"""``peclip explain`` through ``cli.main``: files per window, the JSON equals the Python API, errors, real media."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import peclip
from peclip.cli import main
from peclip.evaluation.explain_video import explain_video

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "WolfgangLanger_Pexels.mp4"


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """A 2 s frame folder (25 fps): a bright square moving over a dark background; no face detection needed."""
    folder = tmp_path_factory.mktemp("frames") / "clip"
    folder.mkdir()
    gen = np.random.default_rng(0)
    for i in range(50):
        image = (gen.random((48, 48, 3)) * 60).astype(np.uint8)
        image[10:30, i // 3:i // 3 + 16] = 230
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


def test_explain_a_frame_folder_writes_json_arrays_png_and_overlay(frames, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["explain", str(frames), "--model", "test-peclip-vit-b16", "--no-face-detection", "--window", "1",
            "--stride", "1", "--class", "fear", "--discard-ratio", "0.2", "--overlay", "-o", str(out)]
    torch.manual_seed(0)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 windows, 2 explained" in printed and "fear" in printed
    record = json.loads((out / "clip.json").read_text())
    assert record["model"] == "test-peclip-vit-b16" and len(record["windows"]) == 2
    first = record["windows"][0]
    assert first["class"] == "fear" and first["face"] is True
    assert np.array(first["rollout"]).shape == (16, 2, 2) and np.array(first["class_map"]).shape == (16, 2, 2)
    assert np.array(first["tda_scale"]).shape == (3, 16) and len(first["frame_similarity"]) == 16
    np.testing.assert_allclose(np.array(first["rollout"]).sum(axis=(1, 2)), 1, atol=1e-4)
    arrays = np.load(out / "clip.npz")
    assert arrays["rollout"].shape == (2, 16, 2, 2) and arrays["tda_scale"].shape == (2, 3, 16)
    for w in (0, 1):
        png = out / f"clip_w{w:03d}.png"
        assert 10_000 < png.stat().st_size < 200_000
    assert (out / "clip_overlay.mp4").stat().st_size > 1000
    # the Python API gives the same maps
    torch.manual_seed(0)
    model = peclip.create_model("test-peclip-vit-b16").eval()
    result = explain_video(model, frames, window=1, stride=1, class_name="fear", discard_ratio=0.2,
                           detect_faces=False)
    np.testing.assert_allclose(result.arrays()["rollout"], arrays["rollout"], atol=1e-6)
    np.testing.assert_allclose(result.arrays()["class_map"], arrays["class_map"], atol=1e-6)
    np.testing.assert_allclose(result.arrays()["tda_scale"], arrays["tda_scale"], atol=1e-6)


def test_explain_reports_bad_input_clearly(frames, tmp_path, capsys):
    base = ["explain", str(frames), "--no-face-detection", "-o", str(tmp_path)]
    assert main([*base, "--model", "test-peclip-vit-b16", "--class", "joy"]) == 2
    assert "'joy' is not one of this model's classes: happiness" in capsys.readouterr().err
    assert main(base) == 2
    assert "no model given" in capsys.readouterr().err
    assert main(["explain", str(tmp_path / "missing.mp4"), "--model", "test-peclip-vit-b16"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not REAL.is_file(), reason="needs ../shared/data/WolfgangLanger_Pexels.mp4")
def test_explain_a_real_video_follows_the_face_track(tmp_path, capsys):
    out = tmp_path / "real"
    assert main(["explain", str(REAL), "--model", "test-peclip-vit-b16", "--max-windows", "1", "-o", str(out)]) == 0
    record = json.loads((out / "WolfgangLanger_Pexels.json").read_text())
    window = record["windows"][0]
    assert window["face"] is True and window["track"] == 0
    assert window["frame_indices"] == sorted(window["frame_indices"]) and len(window["frame_indices"]) == 16
    assert max(window["frame_times"]) < 2.0  # the first 2 s window

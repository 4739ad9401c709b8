"""``peclip predict --precision int8`` (or ``--int8``): the quantised CPU path gives nearly the fp32 probabilities."""

import json
import warnings

import cv2
import numpy as np
import torch

import peclip
from peclip.cli import main


def _predict(image, weights, out, *extra):
    code = main(["predict", str(image), "--model", "test-clip-vit-b16", "--pretrained", str(weights),
                 "--no-face-detection", "--no-plot", "-o", str(out), *extra])
    assert code == 0
    rows = json.loads((out / "face.json").read_text())["faces"]  # a photo: one row per face
    return np.array([[v for k, v in row.items() if k.startswith("p_")] for row in rows], dtype=float)


def test_int8_prediction_is_close_to_fp32(tmp_path, monkeypatch):
    monkeypatch.setenv("PECLIP_CACHE_DIR", str(tmp_path / "cache"))  # the int8 graph cache, not the home folder
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    weights = tmp_path / "clip.pt"  # one CLIP for both runs
    torch.manual_seed(0)
    torch.save(peclip.create_model("test-clip-vit-b16").clip.state_dict(), weights)
    fp32 = _predict(image, weights, tmp_path / "fp32", "--precision", "fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no deprecated quantisation or export API in a run
        int8 = _predict(image, weights, tmp_path / "int8", "--precision", "int8")
    old_flag = _predict(image, weights, tmp_path / "old", "--int8")  # the older spelling, from the cached graph
    assert fp32.shape == int8.shape and fp32.shape[0] >= 1
    assert np.allclose(int8.sum(axis=1), 1.0, atol=1e-6)
    assert np.abs(int8 - fp32).max() < 0.05
    assert np.array_equal(old_flag, int8)
    assert json.loads((tmp_path / "int8" / "face.json").read_text())["settings"]["precision_used"] == "int8"


def test_int8_on_another_device_is_refused(tmp_path, capsys):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), dtype=np.uint8))
    assert main(["predict", str(image), "--model", "test-clip-vit-b16", "--int8", "--device", "cuda",
                 "-o", str(tmp_path)]) == 2
    assert "int8 is a CPU inference path" in capsys.readouterr().err

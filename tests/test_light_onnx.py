"""ONNX: a light model exported by `peclip export` runs in onnxruntime with the logits of torch, and
`peclip predict --engine onnx` gives the numbers of the torch model."""

import json

import pytest
import torch

import peclip
from light_helpers import light_checkpoint, moving_video
from peclip.cli import main
from peclip.predict.onnx import OnnxModel, export_onnx


@pytest.mark.parametrize("name", ["test-shuffvit-dfer", "test-shuffvit-dfer-t"])
def test_onnxruntime_logits_are_within_1e_4_of_torch(tmp_path, name, capsys):
    ckpt = light_checkpoint(tmp_path / name, name)
    out = tmp_path / f"{name}.onnx"
    assert main(["export", str(ckpt), "--onnx", str(out)]) == 0
    assert "max |logit difference|" in capsys.readouterr().out
    model = peclip.load(ckpt).eval()
    onnx_model = OnnxModel(out)
    assert onnx_model.class_names == model.class_names and onnx_model.preprocess.size == 32
    assert not onnx_model.random_weights  # exported from a checkpoint
    t = model.preprocess.num_frames
    for batch in (1, 5):  # the batch dimension is free
        video = torch.rand(batch, t, 3, 32, 32, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = model(video)
        got = onnx_model(video)
        assert got.shape == expected.shape
        assert float((got - expected).abs().max()) <= 1e-4


def test_export_refuses_peclip_and_says_why(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="light models"):
        export_onnx(peclip.create_model("test-peclip-vit-b16"), tmp_path / "x.onnx")


def test_predict_with_onnx_engine_matches_the_torch_checkpoint(tmp_path, capsys):
    ckpt = light_checkpoint(tmp_path / "test-shuffvit-dfer-t")
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--onnx", str(onnx_file)]) == 0
    video = moving_video(tmp_path / "clip.mp4")
    docs = {}
    for engine, checkpoint in (("torch", ckpt), ("onnx", onnx_file)):
        out = tmp_path / engine
        assert main(["predict", str(video), "-o", str(out), "--checkpoint", str(checkpoint), "--engine", engine,
                     "--no-face-detection", "--no-plot"]) == 0
        docs[engine] = json.loads((out / "clip.json").read_text())
    capsys.readouterr()
    a, b = docs["torch"]["timeline"], docs["onnx"]["timeline"]
    assert len(a) == len(b) >= 1
    for wa, wb in zip(a, b, strict=True):
        assert wa["top"] == wb["top"]
        for cls in ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"):
            assert abs(wa[f"p_{cls}"] - wb[f"p_{cls}"]) < 1e-5
    assert main(["predict", str(video), "-o", str(tmp_path / "x"), "--checkpoint", str(ckpt), "--engine", "onnx"]) == 2
    assert "--engine onnx runs an exported model: give MODEL.onnx" in capsys.readouterr().err


def test_predict_with_an_untrained_light_model_warns_random_weights(tmp_path, capsys):
    video = moving_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(video), "-o", str(out), "--model", "test-shuffvit-dfer", "--no-face-detection"]) == 0
    assert "random weights: these probabilities mean nothing" in capsys.readouterr().out
    doc = json.loads((out / "clip.json").read_text())
    assert doc["warning"] == "random weights: these probabilities mean nothing"
    assert doc["settings"]["class_texts"] is None and doc["settings"]["num_frames"] == 1

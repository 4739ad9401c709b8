"""ONNX: a light model exported by `peclip export` runs in onnxruntime with the logits of torch, and
`peclip predict --engine onnx` gives the numbers of the torch model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import peclip
from peclip.cli import main
from peclip.predict.onnx import OnnxModel, export_onnx


def _checkpoint(tmp_path: Path, name: str) -> Path:
    torch.manual_seed(3)
    model = peclip.create_model(name)
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model(torch.rand(4, model.preprocess.num_frames, 3, 32, 32))
    return peclip.save(model.eval(), tmp_path / name)


def _write_video(path: Path, frames: int = 48, fps: int = 24, size=(40, 56)) -> Path:
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
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


@pytest.mark.parametrize("name", ["test-shuffvit-dfer", "test-shuffvit-dfer-t"])
def test_onnxruntime_logits_are_within_1e_4_of_torch(tmp_path, name, capsys):
    ckpt = _checkpoint(tmp_path, name)
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
    ckpt = _checkpoint(tmp_path, "test-shuffvit-dfer-t")
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(ckpt), "--onnx", str(onnx_file)]) == 0
    video = _write_video(tmp_path / "clip.mp4")
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
    assert "--checkpoint MODEL.onnx" in capsys.readouterr().err


def test_predict_with_an_untrained_light_model_warns_random_weights(tmp_path, capsys):
    video = _write_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["predict", str(video), "-o", str(out), "--model", "test-shuffvit-dfer", "--no-face-detection"]) == 0
    assert "random weights: these probabilities mean nothing" in capsys.readouterr().out
    doc = json.loads((out / "clip.json").read_text())
    assert doc["warning"] == "random weights: these probabilities mean nothing"
    assert doc["settings"]["class_texts"] is None and doc["settings"]["num_frames"] == 1

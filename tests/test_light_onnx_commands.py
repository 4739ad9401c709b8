"""``--engine onnx`` beyond predict: ``eval`` scores a manifest with the exported model as torch does, ``live``
gives predict's numbers for the same windows, and ``explain`` refuses it, naming what its methods need."""

import json

import numpy as np
import pytest

from light_helpers import exported, light_checkpoint, moving_video
from peclip.cli import main
from peclip.data.synthetic import MotionSpec, write_motion_dataset

CLASSES = ["right", "left"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny temporal light model on the motion task's 2 classes and 4 frames, saved and exported."""
    folder = tmp_path_factory.mktemp("light")
    ckpt = light_checkpoint(folder / "ckpt", classes=CLASSES, num_frames=4)
    return ckpt, exported(ckpt, folder / "m.onnx")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_motion_dataset(root, num_train=1, num_test=12, spec=MotionSpec(num_classes=2, num_frames=4), seed=7)
    return root


def _eval(model_path, manifest, out, *extra):
    return main(["eval", str(model_path), "--data", str(manifest), "--out", str(out), "--batch-size", "5",
                 "--device", "cpu", "--set", "data.num_workers=0", *extra])


def test_eval_with_onnx_engine_gives_the_torch_metrics_and_probabilities(model, clips, tmp_path, capsys):
    ckpt, onnx_file = model
    assert _eval(ckpt, clips / "test.txt", tmp_path / "torch") == 0
    assert _eval(onnx_file, clips / "test.txt", tmp_path / "onnx", "--engine", "onnx") == 0
    assert "selection: the given checkpoint" in capsys.readouterr().out
    m_torch = json.loads((tmp_path / "torch" / "metrics.json").read_text())
    m_onnx = json.loads((tmp_path / "onnx" / "metrics.json").read_text())
    assert m_onnx["num_samples"] == m_torch["num_samples"] == 12
    assert (m_torch["engine"], m_onnx["engine"]) == ("torch", "onnx") and m_onnx["checkpoint"].endswith("m.onnx")
    for key in ("uar", "war", "loss"):
        assert m_onnx[key] == pytest.approx(m_torch[key], abs=1e-4), key
    assert m_onnx["per_class_recall"] == pytest.approx(m_torch["per_class_recall"], abs=1e-4)
    rows = {engine: (tmp_path / engine / "predictions.csv").read_text().splitlines() for engine in ("torch", "onnx")}
    assert rows["torch"][0] == rows["onnx"][0] and len(rows["onnx"]) == 13
    for a, b in zip(rows["torch"][1:], rows["onnx"][1:], strict=True):
        a, b = a.split(","), b.split(",")
        assert a[:4] == b[:4]  # index, path, target, prediction
        np.testing.assert_allclose(np.array(b[4:], float), np.array(a[4:], float), rtol=0, atol=1e-4)


def test_eval_says_when_an_exported_model_needs_the_onnx_engine_and_what_does_not_apply(model, clips, tmp_path,
                                                                                       capsys):
    ckpt, onnx_file = model
    manifest = clips / "test.txt"
    assert _eval(onnx_file, manifest, tmp_path / "a") == 2
    assert "is an exported ONNX model (`peclip export`); run it with --engine onnx" in capsys.readouterr().err
    assert _eval(ckpt, manifest, tmp_path / "b", "--engine", "onnx") == 2
    assert "give MODEL.onnx" in capsys.readouterr().err
    assert _eval(onnx_file, manifest, tmp_path / "c", "--engine", "onnx", "--pretrained", "openai") == 2
    assert "--pretrained do not apply to --engine onnx" in capsys.readouterr().err
    assert _eval(onnx_file, manifest, tmp_path / "d", "--engine", "onnx", "--precision", "bf16") == 2
    assert "drop --precision bf16" in capsys.readouterr().err
    assert main(["eval", str(onnx_file), "--engine", "onnx"]) == 2
    assert "give --data" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_live_with_onnx_engine_gives_predicts_numbers_for_the_same_windows(model, tmp_path, capsys):
    _, onnx_file = model
    video = moving_video(tmp_path / "clip.mp4", frames=84)  # 3.5 s at 24 fps
    common = ["--checkpoint", str(onnx_file), "--engine", "onnx", "--no-face-detection"]
    assert main(["live", str(video), *common, "--hop", "1", "--jsonl", str(tmp_path / "live.jsonl"),
                 "--summary-every", "0"]) == 0
    assert main(["predict", str(video), *common, "--stride", "1", "--batch-size", "1", "--no-plot",
                 "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    lines = [json.loads(line) for line in (tmp_path / "live.jsonl").read_text().splitlines()]
    timeline = json.loads((tmp_path / "clip.json").read_text())["timeline"]
    assert len(lines) == len(timeline) >= 3
    for line, row in zip(lines, timeline, strict=True):
        assert (line["start"], line["end"], line["face"]) == pytest.approx((row["start"], row["end"], row["face"]))
        assert line["top"] == row["top"] and line["frames"] == row["frames"] and line["dropped"] == 0
        assert list(line["probabilities"]) == CLASSES
        np.testing.assert_allclose([line["probabilities"][c] for c in CLASSES], [row[f"p_{c}"] for c in CLASSES],
                                   rtol=0, atol=1e-6)


def test_explain_refuses_an_exported_model_and_a_light_model_naming_the_methods(model, tmp_path, capsys):
    ckpt, onnx_file = model
    video = moving_video(tmp_path / "clip.mp4")
    base = ["explain", str(video), "--no-face-detection", "-o", str(tmp_path / "out")]
    assert main([*base, "--checkpoint", str(onnx_file), "--engine", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "explain cannot run on an exported ONNX model" in err
    assert "grad-rollout or gradcam" in err and "predict --engine onnx" in err
    assert main([*base, "--checkpoint", str(ckpt)]) == 2  # the torch light model: no ViT attention to read
    err = capsys.readouterr().err
    assert "explain cannot run on test-shuffvit-dfer-t" in err and "grad-rollout or gradcam" in err
    assert not (tmp_path / "out").exists()

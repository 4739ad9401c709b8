"""``peclip predict``: same numbers as the Python API, clear errors, directory runs that go on past bad files."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import peclip
from media_helpers import moving_video
from peclip.cli import main
from peclip.predict import zero_shot_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _write_video(path: Path, frames: int = 60, **kwargs) -> Path:
    return moving_video(path, frames=frames, size=(48, 64), **kwargs)


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory) -> Path:
    """A local CLIP weights file for the tiny backbone, so that CLI and API load the same random weights."""
    torch.manual_seed(123)
    path = tmp_path_factory.mktemp("weights") / "tiny-clip.pt"
    torch.save(peclip.create_model("test-clip-vit-b16").clip.state_dict(), path)
    return path


def _cli_json(tmp_path: Path, video: Path, *args: str) -> dict:
    out = tmp_path / "out"
    assert main(["predict", str(video), "-o", str(out), *args]) == 0
    return json.loads((out / f"{video.stem}.json").read_text())


def test_cli_and_api_give_the_same_numbers_zero_shot(tmp_path, clip_weights):
    video = _write_video(tmp_path / "clip.mp4")
    doc = _cli_json(tmp_path, video, "--model", "test-clip-vit-b16", "--pretrained", str(clip_weights),
                    "--texts", "names", "--templates", "ensemble", "--no-face-detection", "--compound")
    model = zero_shot_model("test-clip-vit-b16", pretrained=str(clip_weights), texts="names", templates="ensemble")
    result = peclip.predict_video(model, video, detect_faces=False, compound=True)
    assert len(result.timeline) == 2  # 2.46 s: windows at 0 and 1 s (the second reaches the last frame)
    assert doc["timeline"] == result.timeline
    assert doc["summary"] == result.summary


def test_cli_and_api_give_the_same_numbers_from_a_checkpoint(tmp_path, clip_weights):
    video = _write_video(tmp_path / "clip.mp4", frames=30)
    torch.manual_seed(5)
    model = peclip.create_model("test-peclip-vit-b16", pretrained=str(clip_weights))
    ckpt = peclip.save(model, tmp_path / "ckpt")
    doc = _cli_json(tmp_path, video, "--checkpoint", str(ckpt), "--no-face-detection")
    result = peclip.predict_video(peclip.load(ckpt), video, detect_faces=False)
    assert doc["timeline"] == result.timeline
    assert len(result.timeline) == 1  # 1.25 s: one window


@pytest.mark.skipif(not (DATA / "single_face.mp4").is_file(), reason="real media in ../shared/data is absent")
def test_cli_and_api_agree_with_face_tracking_on_a_real_video(tmp_path, clip_weights):
    video = DATA / "single_face.mp4"
    doc = _cli_json(tmp_path, video, "--model", "test-clip-vit-b16", "--pretrained", str(clip_weights))
    result = peclip.predict_video(zero_shot_model("test-clip-vit-b16", pretrained=str(clip_weights)), video)
    assert result.has_face
    assert doc["timeline"] == result.timeline


def test_without_a_model_the_error_says_what_to_pass(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "a.mp4")]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint" in err and "--model clip-vit-b16 --pretrained openai" in err


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "a.mp4"), "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "nope does not exist" in capsys.readouterr().err


def test_bad_window_settings_fail_before_any_work(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "a.mp4"), "--model", "test-clip-vit-b16", "--window", "1",
                 "--stride", "2"]) == 2
    assert "stride" in capsys.readouterr().err


def test_a_directory_run_goes_on_past_bad_files_and_lists_them(tmp_path, capsys):
    av = pytest.importorskip("av")
    folder = tmp_path / "videos"
    folder.mkdir()
    _write_video(folder / "good.mp4", frames=24)
    (folder / "broken.mp4").write_bytes(os.urandom(4096))  # not a video
    (folder / "empty.mp4").write_bytes(b"")
    with av.open(str(folder / "zero.avi"), "w") as container:  # a valid container with no frames
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()
    (folder / "notes.txt").write_text("not media: skipped")
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 128, dtype=np.uint8)).save(folder / "still.png")
    out = tmp_path / "out"
    code = main(["predict", str(folder), "--model", "test-clip-vit-b16", "--no-face-detection", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "3 of 5 inputs gave no prediction" in err
    assert "broken.mp4: cannot open video" in err
    assert "empty.mp4" in err and "empty file" in err
    assert "zero.avi" in err and "no video frames" in err
    assert sorted(p.name for p in out.iterdir()) == ["good.csv", "good.json", "good.png", "still.csv", "still.json",
                                                     "still.png", "still_labelled.jpg"]  # a photo: labels drawn

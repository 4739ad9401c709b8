"""``prepare`` resumes a video only when the settings that shaped its crops match (issue 11, item 2)."""

import json
from pathlib import Path

import av
import pytest
from PIL import Image

from peclip.cli import main
from peclip.data.video import list_frames
from peclip.faces.detectors import resolve_detector_name

SINGLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "single_face.mp4"

pytestmark = pytest.mark.skipif(not SINGLE.is_file(), reason="real media in ../shared/data is absent")


@pytest.fixture()
def clip(tmp_path):
    """The first 12 frames of single_face.mp4 as a frame folder ``in/man`` (``prepare in`` reads it as a clip)."""
    folder = tmp_path / "in" / "man"
    folder.mkdir(parents=True)
    with av.open(str(SINGLE)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            frame.to_image().save(folder / f"{index + 1:05d}.png")
            if index == 11:
                break
    return folder


def test_changed_size_or_margin_redoes_the_video_and_says_why(clip, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["prepare", str(clip.parent), "--out", str(out), "--no-progress"]
    assert main([*base, "--size", "96"]) == 0
    track = json.loads((out / "_tracks" / "man.json").read_text())
    assert track["settings"]["size"] == 96 and track["settings"]["margin"] == 0.25
    assert track["settings"]["detector"] == resolve_detector_name("auto")  # the detector that made the crops
    capsys.readouterr()
    assert main([*base, "--size", "96"]) == 0  # same settings: reused
    assert "1 already complete" in capsys.readouterr().out
    assert main([*base, "--size", "64", "--margin", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "0 already complete" in printed
    assert "redone" in printed and "size 96 -> 64" in printed and "margin 0.25 -> 0.5" in printed
    with Image.open(list_frames(out / "man")[0]) as crop:
        assert crop.size == (64, 64)
    assert json.loads((out / "_tracks" / "man.json").read_text())["settings"]["size"] == 64


def test_a_track_file_without_settings_is_redone(clip, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["prepare", str(clip.parent), "--out", str(out), "--no-progress", "--size", "64"]
    assert main(base) == 0
    track_file = out / "_tracks" / "man.json"
    track = json.loads(track_file.read_text())
    del track["settings"]  # as written by peclip before settings were recorded
    track_file.write_text(json.dumps(track))
    capsys.readouterr()
    assert main(base) == 0
    assert "records no settings" in capsys.readouterr().out

"""Several people in ``predict`` (a row per face and window, a summary and a panel per person) and in
``prepare`` (a clip and a manifest row per person; --largest-face keeps one)."""

import csv
import json

import numpy as np
import pytest
import torch

import peclip
from media_helpers import MEDIA, NEEDS_MEDIA_AND_RETINAFACE
from peclip.cli import main
from peclip.predict import zero_shot_model

STILLS = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]



pytestmark = NEEDS_MEDIA_AND_RETINAFACE


@pytest.fixture(scope="module")
def group_photo(tmp_path_factory):
    from PIL import Image

    from peclip.data.video import read_image

    tiles = [read_image(MEDIA / name)[0] for name in STILLS]  # four 512 x 512 faces
    photo = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
    path = tmp_path_factory.mktemp("group") / "four_people.jpg"
    Image.fromarray(photo).save(path, quality=95)
    return path


@pytest.fixture(scope="module")
def two_people_video(tmp_path_factory):
    from peclip.data.video import open_video
    from peclip.predict.overlay import OverlayWriter

    path = tmp_path_factory.mktemp("two") / "two_people.mp4"
    with open_video(MEDIA / "WolfgangLanger_Pexels.mp4") as a, open_video(MEDIA / "single_face.mp4") as b:
        with OverlayWriter(path, 1280, 360, 24.0) as writer:
            for i, (left, right) in enumerate(zip(a, b, strict=False)):
                if i == 48:  # 2 s
                    break
                writer.write(np.concatenate([left.image, right.image], axis=1))  # (360, 1280, 3)
    return path


def test_predict_on_a_photo_of_four_people_gives_one_row_per_face(group_photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(group_photo), "--model", "test-clip-vit-b16", "-o", str(out)]) == 0
    # a photo goes the still-image way (docs/stills.md): one row per face, left to right, and a bar chart
    rows = list(csv.DictReader((out / "four_people.csv").open()))
    assert len(rows) == 4 and [int(r["face"]) for r in rows] == [0, 1, 2, 3]
    assert all(r["top"] for r in rows)
    doc = json.loads((out / "four_people.json").read_text())
    assert len(doc["faces"]) == 4
    assert doc["settings"]["faces"]["detector"] == "retinaface" and doc["settings"]["faces"]["align"] is True
    assert "face 3 at" in capsys.readouterr().out


def test_two_people_in_a_video_get_a_timeline_each_and_a_panel_each(two_people_video, tmp_path):
    torch.manual_seed(0)
    model = zero_shot_model("test-clip-vit-b16")
    result = peclip.predict_video(model, two_people_video, window=1.0, stride=0.5,
                                  overlay=tmp_path / "overlay.mp4")
    people = sorted({r["track"] for r in result.timeline if r["face"]})
    assert people == [0, 1]
    windows = sorted({r["window"] for r in result.timeline})
    for track in people:  # a row for every window for each person: one timeline each
        assert sorted(r["window"] for r in result.timeline if r["track"] == track) == windows
    assert [t["track"] for t in result.summary["tracks"]] == [0, 1]
    figure = result.plot(tmp_path / "plot.png")
    assert len(figure.axes) == 2 and (tmp_path / "plot.png").stat().st_size > 10_000
    boxes = [b for b in result.frame_boxes if len(b) == 2]
    assert len(boxes) >= 0.9 * result.num_video_frames  # the overlay draws both faces on nearly every frame


def test_prepare_writes_a_clip_and_a_manifest_row_per_person(two_people_video, tmp_path):
    from peclip.data.prepare import prepare_videos
    from peclip.data.prepare_options import PrepareOptions

    summary = prepare_videos([two_people_video], tmp_path / "all", PrepareOptions(), label="happiness",
                             progress=False)
    [result] = summary.results
    assert [(track, name) for track, name, _ in result.clips] == [(0, "two_people"), (1, "two_people_face1")]
    manifest = (tmp_path / "all" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 1 + 2
    record = json.loads((tmp_path / "all" / "_tracks" / "two_people.json").read_text())
    assert record["detector"] == "retinaface" and record["align"] is True and len(record["tracks"]) == 2
    assert json.loads((tmp_path / "all" / "faces.json").read_text())["detector"] == "retinaface"
    largest = prepare_videos([two_people_video], tmp_path / "one", PrepareOptions(max_faces=1), progress=False)
    assert len(largest.results[0].clips) == 1

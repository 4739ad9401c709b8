"""``peclip predict`` on images: one row per face with probabilities and boxes, a bar chart (not a
timeline) and the picture with the labels drawn; a folder of stills gives one row per face per image.
The group photo is made here from the real posed stills of ../shared/data."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import peclip
from peclip.cli import main
from peclip.faces.box import Box
from peclip.faces.stills import faces_in_image, merge_overlapping
from peclip.predict.stills import predict_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FACES = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg")


@pytest.fixture(scope="module")
def model():
    return peclip.create_model("test-peclip-vit-b16", num_frames=2)


@pytest.fixture()
def group(tmp_path):
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    images = [np.asarray(Image.open(DATA / name).convert("RGB")) for name in FACES]
    path = tmp_path / "group.jpg"
    Image.fromarray(np.concatenate(images, axis=1)).save(path)  # three people side by side, (512, 1536)
    return path


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_still_of_three_faces_gives_one_row_per_face_left_to_right(model, group):
    result = predict_image(model, group)
    assert len(result.rows) == 3 and result.probabilities.shape == (3, 7)
    assert np.allclose(result.probabilities.sum(axis=1), 1.0)
    centres = [(r["x0"] + r["x1"]) / 2 for r in result.rows]
    assert centres == sorted(centres)
    assert [int(c // 512) for c in centres] == [0, 1, 2]  # one face in each of the three photos


def test_predict_cli_on_a_group_still_writes_rows_a_bar_chart_and_a_labelled_picture(group, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", str(group), "--model", "test-peclip-vit-b16", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "group.jpg: 3 face(s)" in printed and "random weights" in printed
    rows = _rows(out / "group.csv")
    assert [r["face"] for r in rows] == ["0", "1", "2"]
    assert {"x0", "y0", "x1", "y1", "p_happiness", "top", "top_probability"} <= set(rows[0])
    data = json.loads((out / "group.json").read_text())
    assert data["format"] == "peclip-image/1" and len(data["faces"]) == 3 and "warning" in data
    assert Image.open(out / "group.png").format == "PNG"
    labelled = np.asarray(Image.open(out / "group_labelled.jpg").convert("RGB"))
    assert labelled.shape == (512, 1536, 3)
    assert not np.array_equal(labelled, np.asarray(Image.open(group).convert("RGB")))  # boxes drawn


def test_the_plot_of_a_still_is_a_bar_chart_per_face_not_a_timeline(model, group):
    fig = predict_image(model, group).plot()
    ax = fig.axes[0]
    assert len(ax.containers) == 3  # one bar group per face
    assert all(len(bars) == 7 for bars in ax.containers)  # one bar per class
    assert ax.get_xlabel() != "time (s)" and [t.get_text() for t in ax.get_xticklabels()][0] == "happiness"


def test_a_folder_of_stills_gives_one_row_per_face_per_image(group, tmp_path, capsys):
    folder = tmp_path / "stills"
    folder.mkdir()
    group.rename(folder / "group.jpg")
    for name in FACES[:2]:
        (folder / name).write_bytes((DATA / name).read_bytes())
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", "test-peclip-vit-b16", "-o", str(out)]) == 0
    capsys.readouterr()
    table = _rows(out / "images.csv")
    assert sorted((r["image"], r["face"]) for r in table) == sorted(
        [("group.jpg", "0"), ("group.jpg", "1"), ("group.jpg", "2"), (FACES[0], "0"), (FACES[1], "0")])
    for stem in ("group", Path(FACES[0]).stem, Path(FACES[1]).stem):
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}_labelled.jpg").is_file()


def test_a_still_without_a_face_is_reported_and_gives_no_rows(tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(blank)
    out = tmp_path / "out"
    assert main(["predict", str(blank), "--model", "test-peclip-vit-b16", "-o", str(out)]) == 1
    assert "wall.png: no face found (no rows written)" in capsys.readouterr().err
    assert (out / "wall.csv").read_text().splitlines()[1:] == []
    assert main(["predict", str(blank), "--model", "test-peclip-vit-b16", "-o", str(out),
                 "--no-face-detection"]) == 0  # an already cropped face: the whole image is the face
    assert len(_rows(out / "wall.csv")) == 1


class _TwoFaces:
    """A stand-in multi-face detector: two faces, one found twice (overlapping boxes)."""

    def detect(self, frame):
        return [Box(60, 10, 100, 50, 3.0), Box(5, 5, 45, 45, 5.0), Box(7, 6, 46, 44, 2.0)]


def test_any_detector_plugs_into_the_image_to_faces_seam():
    image = np.zeros((80, 120, 3), np.uint8)
    faces = faces_in_image(image, 32, detector=_TwoFaces())
    assert [f.face.as_list() for f in faces] == [[5.0, 5.0, 45.0, 45.0], [60.0, 10.0, 100.0, 50.0]]
    assert all(f.crop.shape == (32, 32, 3) for f in faces)
    side = faces[0].box.width
    assert side == pytest.approx(40 * 1.5)  # the prepare margin (0.25 per side) on the longer side
    assert len(merge_overlapping([Box(0, 0, 10, 10), Box(1, 1, 11, 11), Box(20, 20, 30, 30)])) == 2

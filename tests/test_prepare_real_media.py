"""``peclip prepare`` on real face videos: face found, no-face video skipped, a face that leaves."""

import json
from pathlib import Path

import pytest

from peclip.data.config import DataConfig
from peclip.data.dataset import ClipDataset, load_dataset_items
from peclip.data.manifest import read_csv_manifest
from peclip.data.prepare import prepare_videos
from peclip.data.prepare_options import PrepareOptions
from peclip.data.video import list_frames
from peclip.labels import get_label_set

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    inputs = [MEDIA / "WolfgangLanger_Pexels.mp4", MEDIA / "no_face.mp4", MEDIA / "face_noface.mov"]
    summary = prepare_videos(inputs, out, PrepareOptions(), label="happiness", workers=1, progress=False)
    return out, summary


def _result(summary, name):
    return next(r for r in summary.results if r.name == name)


def test_face_is_found_in_nearly_every_frame(prepared):
    out, summary = prepared
    result = _result(summary, "WolfgangLanger_Pexels")
    assert result.status == "done" and result.frames_total == 472
    track = json.loads((out / "_tracks" / "WolfgangLanger_Pexels.json").read_text())
    [person] = track["tracks"]  # one person: one clip
    detected = sum(row[-1] for row in person["frames"])
    assert detected / 472 >= 0.95  # detections, not held boxes
    assert result.frames_written / 472 >= 0.95
    frames = list_frames(out / "WolfgangLanger_Pexels")
    assert len(frames) == result.frames_written and frames[0].name == "00001.jpg"


def test_manifest_is_read_by_the_dataset(prepared):
    out, _ = prepared
    manifest = out / "manifest.csv"
    assert str(out) not in manifest.read_text()  # relative paths
    items = read_csv_manifest(manifest, label_set=get_label_set("basic7"))
    assert {i.path.name for i in items} == {"WolfgangLanger_Pexels", "face_noface"}
    cfg = DataConfig(manifest=str(manifest), num_frames=16, image_size=224)  # peclip-vit-b16's input
    checked = load_dataset_items(cfg, "train", progress=False)
    assert all(i.label == 0 for i in checked)  # --label happiness
    clip, label = ClipDataset(checked, cfg, train=False)[0]
    assert clip.shape == (16, 3, 224, 224) and label == 0


def test_video_without_a_face_is_reported_and_skipped(prepared):
    out, summary = prepared
    result = _result(summary, "no_face")
    assert result.status == "no_face" and result.frames_written == 0
    assert not (out / "no_face").exists()
    assert result in summary.skipped and "no_face.mp4: no face found in" in summary.format()


def test_face_that_leaves_is_cut_at_the_gap_and_reported(prepared):
    out, summary = prepared
    result = _result(summary, "face_noface")
    assert result.status == "gaps" and result in summary.reported
    (start, end), = result.reported_gaps
    assert end == result.frames_total - 1 and 60 <= start <= 80  # the face leaves about 2.7 s in
    hold = json.loads((out / "_tracks" / "face_noface.json").read_text())["hold_frames"]
    assert end - start + 1 > hold
    track = json.loads((out / "_tracks" / "face_noface.json").read_text())
    written = [row[0] for person in track["tracks"] for row in person["frames"]]
    assert max(written) < start  # boxes held after the face left are not written
    assert result.frames_written == len(list_frames(out / "face_noface")) == len(written)
    assert "face_noface.mov: no face in frames" in summary.format()

"""Prediction end to end on real recordings (../shared/data): timeline, faces, outputs, overlay, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import peclip
from peclip.predict import zero_shot_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WOLF = DATA / "WolfgangLanger_Pexels.mp4"  # 640x360, 23.98 fps, 472 frames, one face throughout

pytestmark = pytest.mark.skipif(not WOLF.is_file(), reason="real media in ../shared/data is absent")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zero_shot_model("test-clip-vit-b16")


@pytest.fixture(scope="module")
def wolf(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("wolf")
    result = peclip.predict_video(model, WOLF, compound=True, overlay=out / "overlay.mp4")
    written = result.save(out, stem="wolf")
    return result, written, out


def test_the_timeline_covers_the_whole_video(wolf):
    result, _, _ = wolf
    assert result.num_video_frames == 472
    assert result.duration == pytest.approx(472 / (24000 / 1001), abs=0.01)  # 19.69 s
    assert result.starts[0] == 0.0 and result.ends[-1] == pytest.approx(result.duration)
    assert np.all(result.starts[1:] <= result.ends[:-1])  # no hole between windows
    assert len(result.starts) == 19  # 2 s windows every 1 s
    assert result.frames.sum() >= 472


def test_a_face_is_found_in_nearly_every_window(wolf):
    result, _, _ = wolf
    assert result.face.mean() >= 0.95
    assert {r["track"] for r in result.timeline if r["face"]} == {0}


def test_probabilities_are_valid_distributions(wolf):
    result, _, _ = wolf
    probs = result.probabilities[result.face]
    assert np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(result.compound[result.face][:, 0],
                               probs[:, result.class_names.index("fear")] + probs[:, result.class_names.index(
                                   "surprise")])


def test_csv_json_and_png_are_written_and_agree(wolf):
    result, written, _ = wolf
    assert {"csv", "json", "png"} <= set(written)
    doc = json.loads(written["json"].read_text())
    assert doc["timeline"] == result.timeline
    assert doc["summary"]["dominant"] in result.class_names
    assert len(written["csv"].read_text().strip().splitlines()) == 1 + 19
    assert written["png"].stat().st_size > 10_000


def test_the_summary_gives_the_dominant_emotion_per_face_track(wolf):
    result, _, _ = wolf
    summary = result.summary
    [track] = summary["tracks"]
    assert track["dominant"] == summary["dominant"]
    assert 0 < track["dominant_share"] <= 1
    assert track["seconds"] == pytest.approx(summary["face_seconds"])
    assert sum(track["class_shares"].values()) == pytest.approx(1.0)


def test_the_overlay_video_decodes_back_with_every_frame(wolf):
    av = pytest.importorskip("av")
    _, _, out = wolf
    with av.open(str(out / "overlay.mp4")) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 472
    assert frames[0].shape == (360, 640, 3)


def test_a_video_without_a_face_says_so_and_claims_no_face(model, caplog):
    with caplog.at_level("WARNING", logger="peclip"):
        result = peclip.predict_video(model, DATA / "no_face.mp4")
    assert "no face found" in caplog.text
    assert not result.has_face and len(result.timeline) >= 1
    for record in result.timeline:
        assert record["face"] is False and record["top"] is None
        assert all(v is None for k, v in record.items() if k.startswith("p_"))
    assert result.summary["dominant"] is None


def test_a_face_that_leaves_the_frame_marks_its_faceless_windows(model):
    result = peclip.predict_video(model, DATA / "face_noface.mov")
    records = result.timeline
    with_face = [r for r in records if r["face"]]
    without = [r for r in records if not r["face"]]
    assert with_face and without
    for r in without:
        assert r["top"] is None and r["p_happiness"] is None
        assert r["face_frames"] < 0.5 * r["frames"]
    for r in with_face:
        assert sum(r[f"p_{c}"] for c in result.class_names) == pytest.approx(1.0)


def test_a_still_image_is_a_one_frame_clip(model):
    result = peclip.predict_video(model, DATA / "0-f15-hao-ph.jpg")
    [record] = result.timeline
    assert (record["start"], record["end"], record["frames"]) == (0.0, 0.0, 1)
    assert record["face"] and record["top"] in result.class_names

"""prepare per person: short stray tracks make no clip (and are reported), the duplicate-frame report
covers every person."""

import json

import numpy as np
import pytest

from media_helpers import MEDIA, needs_media_and_retinaface
from peclip.data.prepare_options import PrepareOptions

FRAMES = 48  # 2 s at 24 fps
HIDDEN = (slice(30, 340), slice(180, 410))  # rows, columns of the man's face in single_face.mp4 (640x360)


def _two_people(path, right_frame):
    """Write WolfgangLanger (left) beside single_face.mp4 (right) as ``right_frame(i, frame)`` makes it."""
    from peclip.data.video import open_video
    from peclip.predict.overlay import OverlayWriter

    with open_video(MEDIA / "WolfgangLanger_Pexels.mp4") as a, open_video(MEDIA / "single_face.mp4") as b:
        with OverlayWriter(path, 1280, 360, 24.0) as writer:
            right = [f.image for f in b][:FRAMES]
            for i, left in enumerate(a):
                if i == FRAMES:
                    break
                writer.write(np.concatenate([left.image, right_frame(i, right)], axis=1))  # (360, 1280, 3)
    return path


@pytest.fixture(scope="module")
def brief_second_face(tmp_path_factory):
    """The man's face is covered by a grey box except in frames 20-27 (a third of a second)."""
    def right(i, frames):
        frame = frames[i].copy()
        if not 20 <= i < 28:
            frame[HIDDEN] = 128
        return frame

    return _two_people(tmp_path_factory.mktemp("brief") / "brief.mp4", right)


@pytest.fixture(scope="module")
def frozen_second_face(tmp_path_factory):
    """The man's frame freezes for frames 20-35 (16 repeats) while the woman moves on."""
    def right(i, frames):
        return frames[20 if 20 <= i < 36 else i]

    return _two_people(tmp_path_factory.mktemp("frozen") / "frozen.mp4", right)


def test_a_minimum_track_length_counts_whole_short_videos():
    options = PrepareOptions()  # 0.5 s
    assert options.min_track_frames(25.0, 1000) == 13  # 12.5 frames, rounded up
    assert options.min_track_frames(25.0, 5) == 5  # a 5-frame video: a face in all 5 is kept
    assert PrepareOptions(min_track_seconds=0).min_track_frames(25.0, 1000) == 1
    with pytest.raises(ValueError, match="min_track_seconds=-1"):
        PrepareOptions(min_track_seconds=-1)


@needs_media_and_retinaface
def test_a_face_track_shorter_than_the_minimum_makes_no_clip_and_is_reported(brief_second_face, tmp_path):
    from peclip.data.prepare import prepare_videos

    summary = prepare_videos([brief_second_face], tmp_path / "default", PrepareOptions(), label="happiness",
                             progress=False)
    [result] = summary.results
    assert [track for track, _, _ in result.clips] == [0]  # the woman only
    [(track, frames)] = result.dropped_tracks
    assert track == 1 and 3 <= frames < 12  # the man, seen for 8 frames: under 0.5 s at 24 fps
    assert not (tmp_path / "default" / "brief_face1").exists()
    assert len((tmp_path / "default" / "manifest.csv").read_text().splitlines()) == 1 + 1
    assert "short tracks" in summary.format() and "1 dropped" in summary.format()
    record = json.loads((tmp_path / "default" / "_tracks" / "brief.json").read_text())
    assert record["dropped_tracks"] == [[1, frames]] and len(record["tracks"]) == 1

    every = prepare_videos([brief_second_face], tmp_path / "all", PrepareOptions(min_track_seconds=0),
                           label="happiness", progress=False)
    assert [track for track, _, _ in every.results[0].clips] == [0, 1] and not every.results[0].dropped_tracks


@needs_media_and_retinaface
def test_the_duplicate_frame_report_covers_every_person(frozen_second_face, tmp_path):
    from peclip.data.prepare import prepare_videos

    summary = prepare_videos([frozen_second_face], tmp_path, PrepareOptions(size=96, report_duplicates=True),
                             progress=False)
    [result] = summary.results
    assert sorted(result.duplicates) == [0, 1]
    record = json.loads((tmp_path / "_tracks" / "frozen.json").read_text())
    [man] = [t for t in record["tracks"] if t["track"] == 1]
    frozen = [man["frames"][i][0] for i, _ in result.duplicates[1]]  # the source frame of each reported crop
    # the box still settles for a few frames after the freeze (motion, smoothing): not all 15 repeats score >= 0.95
    assert len(frozen) >= 3 and all(21 <= f <= 35 for f in frozen)
    assert len(result.duplicates[1]) > len(result.duplicates[0])  # the woman moves on
    assert {t["track"]: t["duplicates"] for t in record["tracks"]} == {
        t: [list(d) for d in dups] for t, dups in result.duplicates.items()}
    assert "person 1:" in summary.format()

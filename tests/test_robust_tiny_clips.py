"""A still, or a video of 1-2 frames, that shows a face counts as having one (issue 11, item 10).

The tracker confirms a face after 3 consecutive detections; the clip's frame count now caps that rule.
The frame is a real one (frame 300 of WolfgangLanger_Pexels.mp4), written by the test as a PNG and as
1- and 2-frame H.264 videos.
"""

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from peclip.data.prepare import prepare_videos
from peclip.data.prepare_options import PrepareOptions
from peclip.data.video import list_frames
from peclip.predict import predict_video, zero_shot_model

WOLF = Path(__file__).resolve().parents[2] / "shared" / "data" / "WolfgangLanger_Pexels.mp4"

pytestmark = pytest.mark.skipif(not WOLF.is_file(), reason="real media in ../shared/data is absent")


@pytest.fixture(scope="module")
def face_clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    with av.open(str(WOLF)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 300:
                rgb = frame.to_ndarray(format="rgb24")
                break
    Image.fromarray(rgb).save(out / "face.png")
    for n in (1, 2):
        with av.open(str(out / f"face{n}.mp4"), "w") as video:
            stream = video.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            for k in range(n):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = k
                for packet in stream.encode(frame):
                    video.mux(packet)
            for packet in stream.encode(None):
                video.mux(packet)
    return out


@pytest.mark.parametrize("name", ["face.png", "face1.mp4", "face2.mp4"])
def test_predict_finds_the_face_in_a_still_and_in_one_or_two_frames(face_clips, name):
    torch.manual_seed(0)
    result = predict_video(zero_shot_model("test-clip-vit-b16"), face_clips / name)
    assert result.has_face and result.face.all()
    assert result.frame_boxes[-1] is not None  # the frame that confirms the face has its box


def test_prepare_crops_the_face_of_a_still_and_of_a_one_frame_video(face_clips, tmp_path):
    summary = prepare_videos([face_clips / "face.png", face_clips / "face1.mp4", face_clips / "face2.mp4"],
                             tmp_path / "out", PrepareOptions(size=64), progress=False)
    assert [(r.name, r.status, r.frames_written) for r in summary.results] == [
        ("face", "done", 1), ("face1", "done", 1), ("face2", "done", 2)]
    assert len(list_frames(tmp_path / "out" / "face1")) == 1

"""Decoding clips: video containers (PyAV), frame folders (natural sort), still images, streaming."""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from peclip.data.video import (
    VideoReadError,
    count_frames,
    list_frames,
    natural_key,
    open_video,
    read_all_frames,
    read_frames,
    read_image,
)

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data"
VALUES = [20 + 10 * i for i in range(20)]  # frame i is flat grey 20 + 10 i


def write_video(path: Path, codec: str, values=VALUES, size=(64, 48), rate=25) -> Path:
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for v in values:
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), v, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("suffix,codec", [(".mp4", "libx264"), (".mov", "libx264"), (".avi", "mpeg4"),
                                          (".webm", "libvpx-vp9"), (".mkv", "mpeg4")])
def test_video_containers_decode_the_asked_frames(tmp_path, suffix, codec):
    video = write_video(tmp_path / f"clip{suffix}", codec)
    assert count_frames(video) == 20 and count_frames(video, exact=True) == 20
    indices = [0, 5, 19, 5, 3]
    frames = read_frames(video, indices)
    assert frames.shape == (5, 48, 64, 3) and frames.dtype == np.uint8
    means = frames.reshape(5, -1).mean(axis=1)
    assert np.allclose(means, [VALUES[i] for i in indices], atol=4)


def test_indices_past_the_decoded_end_repeat_the_last_frame(tmp_path):
    video = write_video(tmp_path / "short.mp4", "libx264", values=VALUES[:6])
    frames = read_frames(video, [4, 8, 30])
    assert np.allclose(frames.reshape(3, -1).mean(axis=1), [VALUES[4], VALUES[5], VALUES[5]], atol=4)


def test_frame_folders_sort_naturally(tmp_path):
    for i in [1, 2, 10, 11, 3]:
        Image.fromarray(np.full((8, 8, 3), i * 10, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_frames(tmp_path)] == ["1.png", "2.png", "3.png", "10.png", "11.png"]
    assert [p.name for p in list_frames(tmp_path, "lexicographic")] == ["1.png", "10.png", "11.png", "2.png",
                                                                         "3.png"]
    assert count_frames(tmp_path) == 5
    frames = read_frames(tmp_path, [3, 0, 4])
    assert frames[:, 0, 0, 0].tolist() == [100, 10, 110]
    assert sorted(["f10", "f9", "f100", "a"], key=natural_key) == ["a", "f9", "f10", "f100"]


def test_frame_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(VideoReadError, match="holds no images"):
        read_frames(tmp_path, [0])
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "00001.jpg")
    with pytest.raises(VideoReadError, match="holds 1 frames"):
        read_frames(tmp_path, [3])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_frames(tmp_path / "nope", [0])


def test_corrupt_video_is_a_read_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="bad.mp4"):
        read_frames(bad, [0])
    with pytest.raises(VideoReadError):
        count_frames(bad)


def test_still_image_is_a_one_frame_clip(tmp_path):
    Image.fromarray(np.full((6, 5, 3), 77, np.uint8)).convert("L").save(tmp_path / "g.png")
    assert read_image(tmp_path / "g.png").shape == (1, 6, 5, 3)  # grey converted to RGB
    assert count_frames(tmp_path / "g.png") == 1
    assert read_frames(tmp_path / "g.png", [0, 0, 3]).shape == (3, 6, 5, 3)


def test_stream_gives_every_frame_with_its_time(tmp_path):
    video = write_video(tmp_path / "s.mp4", "libx264", rate=10)
    with open_video(video) as stream:
        assert stream.fps == pytest.approx(10) and (stream.width, stream.height) == (64, 48)
        frames = list(stream)
    assert [f.index for f in frames] == list(range(20))
    assert [f.time for f in frames] == pytest.approx([i / 10 for i in range(20)])
    assert read_all_frames(video).shape == (20, 48, 64, 3)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / f"{i:05d}.jpg")
    with open_video(folder, folder_fps=5) as stream:
        assert [f.time for f in stream] == pytest.approx([0, 0.2, 0.4])


@pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")
def test_real_media_decode():
    assert count_frames(MEDIA / "WolfgangLanger_Pexels.mp4") == 472
    frames = read_frames(MEDIA / "face_noface.mov", [0, 168])  # HEVC in QuickTime
    assert frames.shape == (2, 540, 960, 3)
    with open_video(MEDIA / "single_face.mp4") as stream:
        assert stream.fps == pytest.approx(30) and sum(1 for _ in stream) == 72

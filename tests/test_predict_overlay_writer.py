"""The overlay encoder writes one output frame per input frame, at any frame size, and draws on a copy."""

import numpy as np
import pytest

from peclip.predict.overlay import OverlayWriter, draw_frame, pick_encoder


@pytest.mark.parametrize(("width", "height", "fps"), [(64, 48, 23.976), (65, 47, 30.0), (32, 32, None)])
def test_overlay_video_has_one_frame_per_input_frame(tmp_path, width, height, fps):
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    n = 17
    path = tmp_path / "out.mp4"
    with OverlayWriter(path, width, height, fps) as writer:
        for _ in range(n):
            writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(stream))
        assert stream.codec_context.name in ("h264", "mpeg4")
    assert decoded == n
    assert pick_encoder() in ("libx264", "mpeg4")


def test_draw_frame_marks_the_box_and_leaves_the_input_untouched():
    frame = np.zeros((120, 160, 3), dtype=np.uint8)
    drawn = draw_frame(frame, [((40, 30, 100, 90), "happiness 0.81", 0)], 1.5)
    assert frame.sum() == 0
    assert drawn[30, 40:100].any() and drawn[60, 70].sum() == 0  # box edge drawn, its inside untouched
    assert draw_frame(frame, [], 0.0).any()  # "no face" and the time are written

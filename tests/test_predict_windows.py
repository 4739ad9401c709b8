"""Sliding windows over timed frames: coverage, the last window, short clips, still images, the face rule."""

import math

import pytest

from peclip.predict.windows import SlidingWindows, TimedFrame, Window, own_spans


def _run(times, length=2.0, stride=1.0, duration=None, box_every=1):
    sliding = SlidingWindows(length, stride)
    windows = []
    for i, t in enumerate(times):
        box = (0.0, 0.0, 1.0, 1.0) if i % box_every == 0 else None
        windows += sliding.push(TimedFrame(i, t, box))
    windows += sliding.finish(duration if duration is not None else times[-1] + 0.1)
    return windows


def _times(fps, n):
    return [i / fps for i in range(n)]


def test_windows_cover_the_whole_video_every_stride_and_the_last_one_is_cut_at_the_end():
    fps, n = 23.976, 472  # the WolfgangLanger clip: 19.69 s
    duration = n / fps
    windows = _run(_times(fps, n), duration=duration)
    assert [w.start for w in windows] == [float(k) for k in range(len(windows))]
    assert windows[-1].end == pytest.approx(duration)
    assert all(w.end - w.start == 2.0 for w in windows[:-1])
    # no extra window once one has reached the last frame
    assert windows[-2].end < _times(fps, n)[-1] <= windows[-1].end
    assert windows[-1].end - windows[-1].start >= 2.0 - 1.0
    covered = {f.index for w in windows for f in w.frames}
    assert covered == set(range(n))
    for w in windows:
        assert all(w.start <= f.time < w.end for f in w.frames)


def test_frames_are_shared_by_overlapping_windows():
    windows = _run(_times(10, 50), duration=5.0)
    counts = {}
    for w in windows:
        for f in w.frames:
            counts[f.index] = counts.get(f.index, 0) + 1
    # 2 s windows every 1 s: each frame after the first second lies in two windows
    assert all(counts[i] == 2 for i in range(10, 40))
    assert all(counts[i] == 1 for i in range(10))


def test_a_video_shorter_than_a_window_is_one_window():
    windows = _run(_times(30, 36), duration=1.2)
    assert len(windows) == 1
    assert (windows[0].start, windows[0].end) == (0.0, pytest.approx(1.2))
    assert len(windows[0].frames) == 36


def test_a_still_image_is_one_window_of_one_frame():
    windows = _run([0.0], duration=0.0)
    assert len(windows) == 1
    assert (windows[0].start, windows[0].end, len(windows[0].frames)) == (0.0, 0.0, 1)


def test_a_window_has_a_face_when_at_least_half_its_frames_do():
    window = Window(0, 0.0, 1.0, [TimedFrame(i, i / 10, (0, 0, 1, 1) if i < 5 else None) for i in range(10)])
    assert window.has_face(0.5)
    assert not window.has_face(0.6)
    assert len(window.face_frames) == 5
    assert not Window(1, 0.0, 1.0, []).has_face()


def test_the_window_track_is_the_one_most_face_frames_belong_to():
    frames = [TimedFrame(i, i / 10, (0, 0, 1, 1), track=1 if i < 3 else 2) for i in range(7)]
    assert Window(0, 0.0, 1.0, frames).track() == 2


@pytest.mark.parametrize(("length", "stride"), [(2.0, 3.0), (0.0, 0.0), (2.0, 0.0), (math.nan, 1.0), (-1.0, 1.0)])
def test_bad_window_settings_are_refused_with_the_value(length, stride):
    with pytest.raises(ValueError, match="window"):
        SlidingWindows(length, stride)


def test_frames_out_of_time_order_are_refused():
    sliding = SlidingWindows(2.0, 1.0)
    sliding.push(TimedFrame(0, 1.0))
    with pytest.raises(ValueError, match="presentation order"):
        sliding.push(TimedFrame(1, 0.5))


def test_own_spans_partition_the_video_at_midpoints_between_window_centres():
    spans = own_spans([(0.0, 2.0), (1.0, 3.0), (2.0, 3.5)], 3.5)
    assert spans == [(0.0, 1.5), (1.5, 2.375), (2.375, 3.5)]
    assert sum(hi - lo for lo, hi in spans) == pytest.approx(3.5)

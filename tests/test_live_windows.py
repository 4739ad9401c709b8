"""Live windows per person: predict's window bounds and contents, bounded memory, one window per person,
and a scorer that skips (and counts) windows when it is slower than the hop."""

import threading
import time

import numpy as np
import pytest

from peclip.predict.live.report import LiveStats
from peclip.predict.live.session import _Scorer
from peclip.predict.live.windows import PersonWindows, WindowJob
from peclip.predict.windows import SlidingWindows, TimedFrame, Window

CROP = np.zeros((4, 4, 3), np.uint8)


def _frames(n, fps=25.0, face=lambda i: True, track=lambda i: 0):
    for i in range(n):
        box = (0.0, 0.0, 4.0, 4.0) if face(i) else None
        yield TimedFrame(i, i / fps, box, CROP if box else None, track(i) if box else None)


def _run(windows, frames, duration):
    jobs = []
    for f in frames:
        jobs.extend(windows.push(f, wall=100.0 + f.time))
    return jobs + windows.finish(duration)


def test_windows_are_those_of_predict_with_the_hop_as_stride():
    frames = list(_frames(250, face=lambda i: i % 7 != 0))  # 10 s at 25 fps, a face in 6 of 7 frames
    sliding = SlidingWindows(2.0, 0.5)
    expected = [w for f in frames for w in sliding.push(f)] + sliding.finish(10.0)
    live = PersonWindows(2.0, 0.5, num_frames=8, sampling="tsn", min_face_fraction=0.5)
    jobs = _run(live, frames, 10.0)
    assert [(j.window.index, j.window.start, j.window.end) for j in jobs] == \
           [(w.index, w.start, w.end) for w in expected]
    for job, window in zip(jobs, expected, strict=True):
        assert [f.index for f in job.window.frames] == [f.index for f in window.frames]
        assert [f.index for f in job.window.face_frames] == [f.index for f in window.face_frames]
        assert job.face and job.track == 0 and len(job.clip) == 8
        assert job.last_wall == pytest.approx(100.0 + window.frames[-1].time)


def test_memory_holds_one_window_however_long_the_stream():
    live = PersonWindows(2.0, 1.0, num_frames=8, sampling="tsn", min_face_fraction=0.5)
    most = 0
    for f in _frames(25 * 600):  # ten minutes at 25 fps
        live.push(f)
        most = max(most, live.buffered_frames())
    assert most <= 2 * (2 * 25 + 1)  # frame times + face frames of one 2 s window


def test_each_person_gets_their_own_window_and_a_window_without_a_face_says_so():
    # track 0 for the first 3 s, nobody for 3 s, then track 1
    def track(i):
        return 0 if i < 75 else 1

    frames = list(_frames(225, face=lambda i: i < 75 or i >= 150, track=track))
    jobs = _run(PersonWindows(2.0, 1.0, num_frames=4, sampling="tsn", min_face_fraction=0.6), frames, 9.0)
    by_window = {}
    for job in jobs:
        by_window.setdefault(job.window.index, []).append(job)
    assert [(j.track, j.face) for j in by_window[0]] == [(0, True)]
    assert [(j.track, j.face) for j in by_window[2]] == [(0, False)]  # 1 s of face in a 2 s window: < 0.6
    assert [(j.track, j.face) for j in by_window[4]] == [(None, False)]  # [4, 6): nobody
    assert [(j.track, j.face) for j in by_window[5]] == [(1, False)]
    assert [(j.track, j.face) for j in by_window[6]] == [(1, True)]
    assert all(len(j.window.frames) == 50 for j in jobs if j.window.end - j.window.start == 2.0)


def test_two_faces_in_the_same_frames_are_two_people():
    frames = []
    for f in _frames(100):
        frames.append(f)
        frames.append(TimedFrame(f.index, f.time, (5.0, 5.0, 9.0, 9.0), CROP, 1))
    jobs = _run(PersonWindows(2.0, 2.0, num_frames=4, sampling="tsn", min_face_fraction=0.5), frames, 4.0)
    assert [(j.window.index, j.track) for j in jobs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(len(j.window.frames) == 50 and len(j.window.face_frames) == 50 for j in jobs)


class _SlowScorer:
    def __init__(self, seconds):
        self.seconds = seconds
        self.scored = []

    def score(self, clips):
        time.sleep(self.seconds)
        self.scored.append(clips[0][0].index)
        return np.full((1, 2), 0.5)

    def forget_before(self, index):
        pass


def _job(k, track=0):
    frames = [TimedFrame(10 * k + i, float(k), (0, 0, 1, 1), CROP, track) for i in range(4)]
    return WindowJob(Window(k, float(k), k + 2.0, frames), track, True, frames, time.time())


@pytest.mark.parametrize("lossless", [False, True])
def test_a_slow_scorer_skips_and_counts_windows_and_scores_the_newest_unless_lossless(lossless):
    stats, lines = LiveStats(), []
    scorer = _Scorer(model=None, frame_cache=None, lossless=lossless, emit=lambda job, p, s: lines.append(job),
                     stats=stats)
    slow = _SlowScorer(0.3)
    scorer._scorer = lambda track: slow
    scorer.start()
    done = threading.Event()

    def produce():
        for k in range(6):
            scorer.submit(_job(k))
            time.sleep(0.02)
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(10)
    scorer.close(drain=True)
    windows = [job.window.index for job in lines]
    if lossless:
        assert windows == list(range(6)) and stats.windows_skipped == 0
    else:
        assert stats.windows_skipped == 6 - len(windows) >= 3
        assert windows[0] == 0 and windows[-1] == 5  # the newest window is the one scored
        assert windows == sorted(windows)

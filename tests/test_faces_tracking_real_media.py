"""Every face tracked as a person on real video: one woman, no face, a face that leaves, a rotated face,
two people side by side, and a hard cut that swaps them."""


import cv2
import numpy as np
import pytest

from media_helpers import MEDIA, NEEDS_MEDIA_AND_RETINAFACE
from peclip.faces import FaceOptions, create_detector, tracker_for

WOLF = MEDIA / "WolfgangLanger_Pexels.mp4"  # 640x360, 23.98 fps, 472 frames, one woman
SINGLE = MEDIA / "single_face.mp4"  # 640x360, 30 fps, 72 frames, one man



pytestmark = NEEDS_MEDIA_AND_RETINAFACE


def _frames(path, limit=None):
    from peclip.data.video import open_video

    with open_video(path) as video:
        fps = video.fps
        frames = []
        for decoded in video:
            frames.append(decoded.image)
            if limit and len(frames) == limit:
                break
    return frames, fps


def _track(frames, fps, **settings):
    tracker = tracker_for(FaceOptions(**settings), fps)
    return [[f for f in tracker.update(frame) if f.track is not None] for frame in frames], tracker


@pytest.fixture(scope="module")
def wolf():
    return _frames(WOLF)


def test_one_woman_is_one_track_over_99_percent_of_the_video(wolf):
    frames, fps = wolf
    assert len(frames) == 472
    faces, _ = _track(frames, fps)
    assert sum(len(f) == 1 for f in faces) / 472 >= 0.99
    assert {face.track for f in faces for face in f} == {0}


def test_a_video_without_a_face_has_no_face_frame():
    frames, fps = _frames(MEDIA / "no_face.mp4")
    faces, _ = _track(frames, fps)
    assert not any(faces)


def test_a_face_that_leaves_is_seen_only_while_it_is_there():
    frames, fps = _frames(MEDIA / "face_noface.mov")
    faces, _ = _track(frames, fps)
    seen = [i for i, f in enumerate(faces) if f]
    # the face is in view from the start until about 2.7 s (frame ~71) and never comes back
    assert seen and seen[0] <= 6 and 60 <= seen[-1] <= 80
    assert len(seen) >= 0.9 * (seen[-1] + 1) and not any(faces[seen[-1] + 1:])


def test_a_face_rotated_30_degrees_is_found_in_95_percent_of_frames(wolf):
    frames, _ = wolf
    detector = create_detector("retinaface")
    h, w = frames[0].shape[:2]
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
    sample = frames[::3]  # every third frame (158 of 472) keeps the test short
    found = [len(detector.detect(cv2.warpAffine(f, rotation, (w, h)))) >= 1 for f in sample]
    assert sum(found) / len(sample) >= 0.95


def _side_by_side(left, right):
    n = min(len(left), len(right))
    return [np.concatenate([left[i], right[i]], axis=1) for i in range(n)]  # (360, 1280, 3)


@pytest.fixture(scope="module")
def two_people(wolf):
    single, _ = _frames(SINGLE)
    return _side_by_side(wolf[0][:len(single)], single), wolf[1]


def test_two_people_at_once_are_two_tracks_with_stable_ids(two_people):
    frames, fps = two_people
    faces, _ = _track(frames, fps)
    sides = {}  # track id -> the sides of the frame it was seen on
    for f in faces:
        for face in f:
            sides.setdefault(face.track, set()).add(face.face.center[0] < 640)
    assert sorted(sides) == [0, 1]
    assert all(len(s) == 1 for s in sides.values())  # an id never changes sides
    assert sum(len(f) == 2 for f in faces) / len(faces) >= 0.9


def test_a_hard_cut_that_swaps_the_people_moves_no_id_between_faces(two_people):
    frames, fps = two_people
    cut = len(frames) // 2
    swapped = frames[:cut] + [np.concatenate([f[:, 640:], f[:, :640]], axis=1) for f in frames[cut:]]
    faces, tracker = _track(swapped, fps)
    assert cut in tracker.cuts
    for shot in (faces[:cut], faces[cut:]):
        sides = {}
        for f in shot:
            for face in f:
                sides.setdefault(face.track, set()).add(face.face.center[0] < 640)
        assert len(sides) == 2 and all(len(s) == 1 for s in sides.values())  # within a shot: one face per id
    before = {face.track for f in faces[:cut] for face in f}
    after = {face.track for f in faces[cut:] for face in f}
    assert not before & after  # the cut ends every track: no id carries over to another person

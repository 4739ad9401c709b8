"""Matching detections to face tracks: overlap and motion where they are clear, appearance where they are not."""

import numpy as np

from peclip.faces.appearance import appearance, blend, similarity
from peclip.faces.association import affinity, match
from peclip.faces.box import Box


def _look(*weights: float) -> np.ndarray:
    v = np.asarray(weights, np.float32)
    return np.sqrt(v / v.sum())


RED, BLUE = _look(8, 1, 1), _look(1, 1, 8)


def test_overlap_alone_pairs_each_track_with_the_detection_it_overlaps_most():
    tracks = [Box(0, 0, 100, 100), Box(300, 0, 400, 100)]
    detections = [Box(310, 5, 410, 105), Box(8, 0, 108, 100), Box(600, 0, 700, 100)]
    found = match(tracks, detections)
    assert found.pairs == {0: 1, 1: 0} and found.fresh == [2]


def test_appearance_decides_between_overlapping_tracks_against_their_motion():
    # Two faces that overlap; each one's predicted box lies on the other's detection (one reversed).
    predicted = [Box(100, 100, 200, 200), Box(130, 110, 230, 210)]
    detections = [Box(128, 108, 228, 208), Box(102, 100, 202, 200)]
    looks = [RED, BLUE]
    assert match(predicted, detections).pairs == {0: 1, 1: 0}  # by overlap: the swap
    found = match(predicted, detections, track_looks=looks, detection_looks=[RED, BLUE])
    assert found.pairs == {0: 0, 1: 1} and found.clean == set()  # by appearance; nothing learned from overlap


def test_a_face_far_from_its_prediction_is_found_again_only_when_it_looks_the_same():
    predicted = [Box(100, 100, 200, 230)]  # a face 130 px tall
    far = [Box(210, 100, 310, 230)]  # 110 px (0.85 face) to the right, no overlap: beyond overlap and motion
    assert affinity(predicted[0], far[0]) < 0
    assert match(predicted, far, track_looks=[RED], detection_looks=[RED]).pairs == {0: 0}
    assert match(predicted, far, track_looks=[RED], detection_looks=[BLUE]).pairs == {}
    assert match(predicted, far).pairs == {}  # without appearance: a new face
    farther = [Box(280, 100, 380, 230)]  # 180 px (1.4 faces): only for a track missed for a while
    assert match(predicted, farther, [0], [RED], [RED]).pairs == {}
    assert match(predicted, farther, [10], [RED], [RED]).pairs == {0: 0}


def test_a_lone_clear_pair_is_learned_from():
    found = match([Box(0, 0, 100, 100)], [Box(5, 0, 105, 100)], track_looks=[RED], detection_looks=[BLUE])
    assert found.pairs == {0: 0} and found.clean == {0}  # one track, one detection: geometry decides


def test_the_colour_descriptor_tells_colours_apart_and_ignores_the_frame_outside_the_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100] = (200, 60, 40)
    frame[:, 100:] = (40, 60, 200)
    left, right = Box(10, 10, 90, 90), Box(110, 10, 190, 90)
    a, b = appearance(frame, left), appearance(frame, right)
    assert a.shape == (128,) and abs(float(np.linalg.norm(a)) - 1) < 1e-5
    assert similarity(a, appearance(frame, Box(20, 20, 80, 80))) > 0.99 and similarity(a, b) < 0.1
    assert appearance(frame, Box(300, 300, 400, 400)) is None and similarity(None, a) == 0.5
    assert 0.3 < similarity(blend(a, b, 0.5), a) < 0.99

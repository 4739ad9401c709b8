"""Face boxes, the face tracker (confirmation, hold through short gaps, reported gaps) and crops."""

from pathlib import Path

import numpy as np
import pytest

from peclip.faces import Box, FaceDetector, FaceTracker, Gap, HaarFaceDetector, crop_face

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data"


class BrightSquares:
    """A stand-in detector: every white square (value 255) is a face; works on any crop of the frame."""

    def detect(self, frame):
        mask = frame[..., 0] == 255
        boxes = []
        seen = np.zeros_like(mask)
        for y, x in zip(*np.nonzero(mask), strict=True):
            if seen[y, x]:
                continue
            x1 = x
            while x1 + 1 < mask.shape[1] and mask[y, x1 + 1]:
                x1 += 1
            y1 = y
            while y1 + 1 < mask.shape[0] and mask[y1 + 1, x]:
                y1 += 1
            seen[y:y1 + 1, x:x1 + 1] = True
            if x1 - x >= 3:
                boxes.append(Box(float(x), float(y), float(x1 + 1), float(y1 + 1)))
        return boxes


def _frame(squares=(), size=(120, 160)):
    frame = np.zeros((*size, 3), np.uint8)
    for x, y, side in squares:
        frame[y:y + side, x:x + side] = 255
    return frame


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150) and a.area == 100 and a.center == (5, 5)
    assert Box.square(10, 20, 8).as_list() == [6, 16, 14, 24]
    assert isinstance(HaarFaceDetector(), FaceDetector) and isinstance(BrightSquares(), FaceDetector)


def test_tracker_confirms_holds_short_gaps_and_reports_long_ones():
    # fps 10, max_gap 0.6 s -> 6 frames held. Face in 0-19, missing 20-24 (5, held), back 25-39,
    # missing from 40 on: held 40-45, then no box.
    tracker = FaceTracker(BrightSquares(), fps=10, max_gap=0.6, margin=0.25, confirm=3)
    face = _frame([(60, 40, 40)])
    empty = _frame()
    results = [tracker.update(face if (i < 20 or 25 <= i < 40) else empty) for i in range(80)]
    gaps = tracker.finish()
    boxed = [r.box is not None for r in results]
    assert boxed[:2] == [False, False] and all(boxed[2:46]) and not any(boxed[46:])
    assert [r.held for r in results[20:25]] == [True] * 5 and not results[25].held
    assert gaps == [Gap(0, 1), Gap(46, 79)]
    # stationary face: the crop box is the face square widened by 2 x 25 %, centred on it
    box = results[30].box
    assert box.center == pytest.approx((80, 60), abs=1.0) and box.width == pytest.approx(60, abs=1.5)


def test_tracker_follows_the_largest_face_and_ignores_stray_detections():
    tracker = FaceTracker(BrightSquares(), fps=25, confirm=3)
    frame = _frame([(10, 10, 20), (90, 40, 50)])
    box = [tracker.update(frame) for _ in range(4)][-1].box
    assert box.center == pytest.approx((115, 65), abs=1.0)  # found in a shrunk region: sub-pixel error
    lone = FaceTracker(BrightSquares(), fps=25, confirm=3)
    flashes = [lone.update(_frame([(50, 50, 30)]) if i == 3 else _frame()) for i in range(10)]
    assert all(r.box is None for r in flashes)  # one detection never makes a confirmed track
    assert lone.finish() == [Gap(0, 9)]


def test_crop_pads_black_outside_the_frame():
    frame = np.full((50, 60, 3), 200, np.uint8)
    inside = crop_face(frame, Box(10, 10, 30, 30), 20)
    assert inside.shape == (20, 20, 3) and (inside == 200).all()
    corner = crop_face(frame, Box(-10, -10, 10, 10), 20)
    assert (corner[:10, :10] == 0).all() and (corner[10:, 10:] == 200).all()


@pytest.mark.skipif(not MEDIA.is_dir(), reason="../shared/data (real face media) is absent")
def test_haar_detector_finds_a_real_face_and_nothing_in_a_blank_frame():
    from peclip.data.video import read_image

    detector = HaarFaceDetector()
    image = read_image(MEDIA / "0-f1-su-ph.jpg")[0]
    faces = detector.detect(image)
    assert len(faces) >= 1
    face = max(faces, key=lambda b: b.area)
    assert face.width > 0.15 * min(image.shape[:2])
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10), np.float32))

"""Two real faces that cross on a synthetic background keep their ids, also when one of them reverses
direction while they overlap (the tracker's appearance cue decides where overlap and motion cannot)."""

import cv2
import numpy as np
import pytest

from media_helpers import MEDIA, NEEDS_MEDIA_AND_RETINAFACE
from peclip.faces import FaceOptions, create_detector, tracker_for

pytestmark = NEEDS_MEDIA_AND_RETINAFACE

HEIGHT, WIDTH, SIDE = 360, 640, 150  # the frame; the side of each pasted face patch (face ~100 px)


def _face_patch(name: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """A still's face as a ``SIDE x SIDE`` patch, its soft elliptic mask ``(SIDE, SIDE, 1)`` and the offset
    of the detected face centre from the patch centre."""
    image = cv2.cvtColor(cv2.imread(str(MEDIA / name)), cv2.COLOR_BGR2RGB)
    box = create_detector("retinaface").detect(image)[0]
    (cx, cy), half = box.center, 0.75 * max(box.width, box.height)
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(image.shape[1], cx + half)), int(min(image.shape[0], cy + half))
    patch = cv2.resize(image[y0:y1, x0:x1], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    mask = np.zeros((SIDE, SIDE), np.float32)
    cv2.ellipse(mask, (SIDE // 2, SIDE // 2), (int(SIDE * 0.42), int(SIDE * 0.49)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), SIDE * 0.03)[..., None]
    scale = SIDE / (x1 - x0)
    offset = ((cx - x0) * scale - SIDE / 2, (cy - y0) * scale - SIDE / 2)
    return patch, mask, offset


def _paste(frame: np.ndarray, patch: np.ndarray, mask: np.ndarray, cx: float, cy: float) -> None:
    x0, y0 = int(round(cx - SIDE / 2)), int(round(cy - SIDE / 2))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(WIDTH, x0 + SIDE), min(HEIGHT, y0 + SIDE)
    m = mask[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (m * patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] + (1 - m) * region).astype(np.uint8)


def _path(points, steps) -> list[tuple[float, float]]:
    """Positions along the polyline ``points``, ``steps[i]`` frames from point i to point i + 1."""
    out = []
    for (a, b), n in zip(zip(points[:-1], points[1:], strict=True), steps, strict=True):
        out += [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n)]
    return out + [points[-1]]


def _scene():
    """Face A (0-f1-su-ph.jpg) and face B (0-f15-hao-ph.jpg, in front) on a smooth random background.
    First they cross at 8 px per frame (B passes over A); then they come back at 14 px per frame, meet,
    and B reverses while it overlaps A, which stops: A's motion predicts B's place and B's predicts A's."""
    rng = np.random.default_rng(0)
    background = cv2.resize(rng.integers(40, 200, size=(9, 16, 3)).astype(np.uint8), (WIDTH, HEIGHT),
                            interpolation=cv2.INTER_CUBIC)
    a_patch, a_mask, a_offset = _face_patch("0-f1-su-ph.jpg")
    b_patch, b_mask, b_offset = _face_patch("0-f15-hao-ph.jpg")
    a_path = _path([(100, 168), (540, 168), (540, 168), (320, 168), (320, 168)], [55, 4, 16, 16])
    b_path = _path([(540, 192), (100, 192), (100, 192), (300, 192), (80, 192)], [55, 4, 15, 17])
    frames = []
    for a, b in zip(a_path, b_path, strict=True):
        frame = background.copy()
        _paste(frame, a_patch, a_mask, *a)
        _paste(frame, b_patch, b_mask, *b)
        frames.append(frame)
    centres = {"A": [(x + a_offset[0], y + a_offset[1]) for x, y in a_path],
               "B": [(x + b_offset[0], y + b_offset[1]) for x, y in b_path]}
    return frames, centres


def _who(frames, centres, detect_every: int = FaceOptions.detect_every, **settings) -> dict[int, set[str]]:
    """Track id -> the faces (A, B) its detected boxes lay on, over the frames where A and B are apart."""
    tracker = tracker_for(FaceOptions(detector="retinaface", detect_every=detect_every), 25.0, **settings)
    seen: dict[int, set[str]] = {}
    for i, frame in enumerate(frames):
        apart = np.hypot(*np.subtract(centres["A"][i], centres["B"][i])) > 55
        for face in tracker.update(frame):
            if face.track is None or not face.detected or not apart:
                continue
            near = [p for p in "AB" if np.hypot(*np.subtract(face.face.center, centres[p][i])) < 25]
            seen.setdefault(face.track, set()).update(near)
    return seen


@pytest.fixture(scope="module")
def scene():
    return _scene()


@pytest.mark.parametrize("detect_every", [1, 2, 3])
def test_two_real_faces_that_cross_and_reverse_keep_their_ids_from_start_to_end(scene, detect_every):
    # Without the appearance cue (appearance=False) this scene swaps ids at every detect_every (docs/faces.md).
    frames, centres = scene
    seen = _who(frames, centres, detect_every)
    assert sorted(seen) == [0, 1]  # two people, no third id for a face found again
    assert sorted(seen.values(), key=sorted) == [{"A"}, {"B"}]  # each id on one face only, start to end

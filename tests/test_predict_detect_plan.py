"""Face detection on the frames the windows sample (``detect_frames``): the plan is TSN's picks, the tracker
detects there only, and predict keeps its windows while calling the detector less."""

from __future__ import annotations

import numpy as np
import pytest

from media_helpers import MEDIA, needs_media_and_retinaface
from model_helpers import tiny_model
from peclip.faces.box import Box
from peclip.faces.detectors import FaceDetector, create_detector
from peclip.faces.options import FaceOptions
from peclip.faces.tracking import FaceTracks
from peclip.predict.detect_plan import SampledFrames
from peclip.predict.options import PredictOptions
from peclip.predict.runner import predict_video, sample_clip
from peclip.predict.windows import SlidingWindows, TimedFrame


@pytest.mark.parametrize(("fps", "stride"), [(23.976, 2.0), (23.976, 1.0), (30.0, 0.5), (25.0, 2.0)])
def test_the_plan_is_the_tsn_picks_of_every_window_whose_frames_all_show_a_face(fps, stride):
    n, t = 300, 16
    frames = [TimedFrame(i, i / fps, (0.0, 0.0, 1.0, 1.0), np.zeros((1, 1, 3), np.uint8), 0) for i in range(n)]
    sliding = SlidingWindows(2.0, stride)
    windows = [w for f in frames for w in sliding.push(f)]  # the full windows (the last, cut one is left out)
    picks = {f.index for w in windows for f in sample_clip(w, t, "tsn")}
    plan = SampledFrames(fps, 2.0, stride, t)
    last = windows[-1].frames[-1].index
    planned = {i for i in range(n) if plan(i)}
    assert {i for i in planned if i <= last} == picks
    assert len(picks) < n  # fewer frames than the video has: what detection saves


class _Counting(FaceDetector):
    """One face in the middle of every frame; records the frames it was asked about."""

    def __init__(self):
        self.calls = []

    def detect(self, frame):
        self.calls.append(int(frame[0, 0, 0]))  # the test writes the frame index into the first pixel
        return [Box(40.0, 40.0, 80.0, 80.0, 0.99)]


def _frame(i, brightness=100):
    image = np.full((120, 120, 3), brightness, np.uint8)
    image[0, 0, 0] = i
    return image


def test_the_tracker_detects_on_the_planned_frames_plus_confirmation_and_cuts():
    detector = _Counting()
    tracks = FaceTracks(detector, fps=25.0, detect_every=2, detect_at=lambda i: i % 5 == 3)
    for i in range(20):
        faces = tracks.update(_frame(i))
        assert len(faces) == 1  # the face is there in every frame, detected or moved by the tracker
    # frame 0 (the first), 1 and 2 (awaiting confirmation after 3 detections), then the planned 3, 8, 13, 18
    assert detector.calls == [0, 1, 2, 3, 8, 13, 18]
    tracks.update(_frame(20, brightness=250))  # a hard cut: a new shot is detected at once
    assert detector.calls[-1] == 20


def test_auto_detects_on_sampled_frames_only_on_the_int8_path():
    options = PredictOptions()
    assert options.detects_sampled("int8") and not options.detects_sampled("fp32")
    assert not options.detects_sampled("bf16")
    assert PredictOptions(detect_frames="sampled").detects_sampled("fp32")
    assert not PredictOptions(detect_frames="every").detects_sampled("int8")
    assert not PredictOptions(sampling="csim").detects_sampled("int8")  # csim picks by content: every frame
    with pytest.raises(ValueError, match="csim picks frames by their content"):
        PredictOptions(sampling="csim", detect_frames="sampled")
    with pytest.raises(ValueError, match="auto, every, sampled"):
        PredictOptions(detect_frames="some")


class _CountingInner(FaceDetector):
    """A real detector that counts its calls."""

    def __init__(self, inner):
        self.inner, self.count = inner, 0

    def detect(self, frame):
        self.count += 1
        return self.inner.detect(frame)


@needs_media_and_retinaface
def test_predict_with_sampled_detection_keeps_the_windows_and_detects_less(one_thread):
    video = MEDIA / "WolfgangLanger_Pexels.mp4"
    model = tiny_model()
    results, calls = {}, {}
    for detect in ("every", "sampled"):
        detector = _CountingInner(create_detector(options=FaceOptions()))
        results[detect] = predict_video(model, video, stride=2.0, detect_frames=detect, precision="fp32",
                                        detector=detector)
        calls[detect] = detector.count
    every, sampled = results["every"], results["sampled"]
    # Measured: 237 detections (every 2nd frame) and 159 on the sampled frames (0.67x); max |dp| 0.038.
    assert calls["sampled"] < 0.8 * calls["every"], calls
    assert np.array_equal(every.starts, sampled.starts) and np.array_equal(every.face, sampled.face)
    assert sampled.settings["detect_frames_used"] == "sampled" and every.settings["detect_frames_used"] == "every"
    # the crops differ a little (other detections, other smoothing); the random-weight tiny model's
    # probabilities stay close
    assert np.abs(every.probabilities - sampled.probabilities).max() < 0.1

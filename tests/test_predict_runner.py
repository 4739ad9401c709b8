"""The windowing runner: which windows are scored, which frames a window's clip is made of, batching."""

import numpy as np
import pytest

import peclip
from model_helpers import tiny_model
from peclip.predict import PredictOptions
from peclip.predict.runner import predict_frames
from peclip.predict.windows import TimedFrame


class SpyScorer:
    """Records the clips it is asked to score; returns uniform probabilities."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.batches: list[list[list[int]]] = []

    def score(self, clips):
        self.batches.append([[f.index for f in clip] for clip in clips])
        return np.full((len(clips), self.num_classes), 1 / self.num_classes)

    def forget_before(self, index):
        pass


def _frames(n: int, fps: float, face_until: int, size: int = 32):
    rng = np.random.default_rng(0)
    for i in range(n):
        if i < face_until:
            yield TimedFrame(i, i / fps, (0, 0, 10, 10), rng.integers(0, 256, (size, size, 3), dtype=np.uint8), 0)
        else:
            yield TimedFrame(i, i / fps)


def test_only_windows_with_a_face_majority_are_scored_from_their_face_frames():
    model = tiny_model("test-clip-vit-b16")
    spy = SpyScorer(7)
    # 3 s at 24 fps with a face in the first 1.5 s: window [0, 2) is 75 % face, [1, 3) 25 %
    entries = predict_frames(model, _frames(72, 24.0, 36), lambda: 3.0, PredictOptions(), scorer=spy)
    assert [e.face for e in entries] == [True, False]
    assert [(e.frames, e.face_frames) for e in entries] == [(48, 36), (48, 12)]
    [[clip]] = spy.batches
    assert len(clip) == model.preprocess.num_frames
    assert all(i < 36 for i in clip) and clip == sorted(clip)
    # TSN test sampling: the centres of 16 equal segments of the 36 face frames
    assert clip == [int(36 / 16 / 2 + 36 / 16 * k) for k in range(16)]
    assert entries[1].probabilities is None


def test_windows_are_scored_in_batches_of_batch_size():
    model = tiny_model("test-clip-vit-b16")
    spy = SpyScorer(7)
    entries = predict_frames(model, _frames(240, 24.0, 240), lambda: 10.0, PredictOptions(batch_size=4), scorer=spy)
    assert len(entries) == 9 and all(e.face for e in entries)
    assert [len(b) for b in spy.batches] == [4, 4, 1]


def test_csim_sampling_picks_distinct_face_frames():
    model = tiny_model("test-clip-vit-b16")
    spy = SpyScorer(7)
    predict_frames(model, _frames(48, 24.0, 48), lambda: 2.0, PredictOptions(sampling="csim"), scorer=spy)
    [[clip]] = spy.batches
    assert len(set(clip)) == 16 and clip == sorted(clip) and max(clip) < 48


def test_options_are_validated_with_the_bad_value():
    with pytest.raises(ValueError, match="sampling='random'"):
        PredictOptions(sampling="random")
    with pytest.raises(ValueError, match="batch_size=0"):
        PredictOptions(batch_size=0)
    with pytest.raises(ValueError, match="min_face_fraction=1.5"):
        PredictOptions(min_face_fraction=1.5)


def test_options_and_keyword_settings_are_not_mixed(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        peclip.predict_video(tiny_model("test-clip-vit-b16"), tmp_path / "a.mp4", options=PredictOptions(), window=3.0)

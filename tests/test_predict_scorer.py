"""Window scoring: the frame-cache path equals the model's own forward, and windows batch independently."""

import numpy as np
import pytest
import torch

from model_helpers import activate_tda, tiny_model
from peclip.predict.scorer import WindowScorer
from peclip.predict.windows import TimedFrame


def _frames(n: int, size: int = 32, seed: int = 0) -> list[TimedFrame]:
    rng = np.random.default_rng(seed)
    return [TimedFrame(i, i / 10, (0, 0, 1, 1), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            for i in range(n)]


def _clips(frames, t=4):
    # overlapping clips that share frames, as neighbouring windows do
    return [frames[0:2 * t:2], frames[t:3 * t:2], frames[2 * t:4 * t:2]]


def _reference(model, clips) -> np.ndarray:
    video = torch.stack([torch.stack([torch.from_numpy(f.crop).permute(2, 0, 1).float() / 255 for f in clip])
                         for clip in clips])  # (B, T, 3, S, S)
    with torch.no_grad():
        return torch.softmax(model(video), dim=-1).double().numpy()


def test_frame_cache_gives_the_model_forward_probabilities_and_encodes_shared_frames_once():
    model = tiny_model("test-clip-vit-b16").eval()
    frames = _frames(16)
    clips = _clips(frames)
    scorer = WindowScorer(model)
    assert scorer.frame_cache  # no temporal adapter: frames are independent
    probs = scorer.score(clips)
    np.testing.assert_allclose(probs, _reference(model, clips), atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert scorer.frames_encoded == len({f.index for c in clips for f in c})
    assert scorer.frames_encoded < sum(len(c) for c in clips)


def test_a_temporal_model_scores_whole_clips_and_agrees_with_forward():
    model = tiny_model("test-peclip-vit-b16").eval()
    activate_tda(model)
    clips = _clips(_frames(16))
    scorer = WindowScorer(model)
    assert not scorer.frame_cache
    np.testing.assert_allclose(scorer.score(clips), _reference(model, clips), atol=1e-5)


def test_frame_cache_is_refused_for_a_model_whose_tda_mixes_frames():
    with pytest.raises(ValueError, match="temporal"):
        WindowScorer(tiny_model("test-peclip-vit-b16"), frame_cache=True)


def test_forgetting_old_frames_does_not_change_later_scores():
    model = tiny_model("test-clip-vit-b16").eval()
    frames = _frames(16)
    clips = _clips(frames)
    scorer = WindowScorer(model)
    first = scorer.score(clips[:1])
    scorer.forget_before(clips[1][0].index)
    assert min(index for index, _ in scorer._cache) >= clips[1][0].index  # keys: (frame, track)
    rest = scorer.score(clips[1:])
    np.testing.assert_allclose(np.concatenate([first, rest]), _reference(model, clips), atol=1e-5)

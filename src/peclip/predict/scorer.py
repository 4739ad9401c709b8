"""Class probabilities for batches of windows, with as little vision work as the model allows.

Two paths, chosen from the model's structure:

- **Temporal models** (TDA on, docs/spec.md 2.4): a frame's features depend on the other frames of its
  clip, so each window is one ``(T, 3, S, S)`` clip and ``B`` windows run as one ``model(video)`` call.
- **Frame-independent models** (TDA off: plain CLIP zero-shot, or PE-CLIP without the TDA): the video
  embedding is the normalised mean of per-frame embeddings (docs/spec.md 2.8), so a frame shared by
  overlapping windows is encoded once and its embedding reused. With the default 2 s windows at a
  1 s stride, TSN's segment centres of neighbouring windows fall on the same frames, which halves the
  vision work. The logits are then ``logit_scale * normalize(mean_t f_t) @ classes.T``, exactly what
  ``PEClip.forward`` computes (a test checks the two agree).

Everything runs under :func:`torch.inference_mode`; the class-text features are computed once per
model (the model caches them in eval mode) and reused for every batch. With ``precision="bf16"`` only
the vision tower runs under autocast: the class-text features, the logits and the softmax stay fp32.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from peclip.model import PEClip
from peclip.precision import autocast
from peclip.predict.windows import TimedFrame


def frames_to_tensor(crops: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """``N`` uint8 crops ``(S, S, 3)`` -> float ``(N, 3, S, S)`` in [0, 1] on ``device``."""
    array = np.stack(crops)  # (N, S, S, 3)
    return torch.from_numpy(array).to(device).permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, S, S)


class WindowScorer:
    """Turn clips (lists of ``T`` sampled frames with crops) into class probabilities ``(B, C)``."""

    def __init__(self, model: PEClip, frame_cache: bool | None = None, precision: str = "fp32"):
        self.model = model
        self.device = next(itertools.chain(model.parameters(), model.buffers())).device
        if precision not in ("fp32", "bf16", "int8"):
            raise ValueError(f"precision={precision!r}: resolve it first "
                             "(peclip.precision.resolve_inference_precision)")
        self.precision = precision  # int8 is the model's own (an Int8PEClip); it runs as fp32 here
        independent = model.frame_cache_supported
        if frame_cache and not independent:
            raise ValueError("frame_cache=True needs a PE-CLIP model whose frames are encoded independently "
                             "(temporal adapter off); this model scores whole clips, so leave frame_cache unset")
        self.frame_cache = independent if frame_cache is None else frame_cache
        self._cache: dict[tuple, torch.Tensor] = {}  # (frame index, track) -> (E,) embedding, not normalised
        self.frames_encoded = 0

    @torch.inference_mode()
    def score(self, clips: Sequence[Sequence[TimedFrame]]) -> np.ndarray:
        """Probabilities ``(B, C)`` (float64) for ``B`` clips of ``T`` frames each."""
        if not clips:
            return np.zeros((0, len(self.model.class_names)))
        self.model.eval()
        logits = self._logits_cached(clips) if self.frame_cache else self._logits_clips(clips)
        return torch.softmax(logits.float(), dim=-1).double().cpu().numpy()

    def _vision(self):
        return autocast(self.device, "bf16" if self.precision == "bf16" else "fp32")

    def _logits_clips(self, clips: Sequence[Sequence[TimedFrame]]) -> torch.Tensor:
        b, t = len(clips), len(clips[0])
        frames = frames_to_tensor([f.crop for clip in clips for f in clip], self.device)  # (B*T, 3, S, S)
        video = frames.view(b, t, *frames.shape[1:])  # (B, T, 3, S, S)
        self.frames_encoded += b * t
        if not isinstance(self.model, PEClip):  # a light model: its logits directly
            with self._vision():
                return self.model(video).float()  # (B, C)
        text_prompts, vision_prompts = self.model.prompt_tokens()  # as PEClip.forward
        with self._vision():
            videos = self.model.encode_video(video, vision_prompts)  # (B, E)
        # the class side outside autocast: the fp32 class texts cached by the model, its logit rule (PN, heads)
        return self.model.logits_from_embeddings(videos.float(), text_prompts)  # (B, C)

    def _logits_cached(self, clips: Sequence[Sequence[TimedFrame]]) -> torch.Tensor:
        text_prompts, vision_prompts = self.model.prompt_tokens()
        new: dict[tuple, TimedFrame] = {}
        for clip in clips:
            for f in clip:
                if _key(f) not in self._cache:
                    new[_key(f)] = f
        if new:
            order = sorted(new, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
            frames = frames_to_tensor([new[k].crop for k in order], self.device)  # (N, 3, S, S)
            with self._vision():
                _, feats = self.model.encode_video(frames.unsqueeze(1), vision_prompts, return_frames=True)  # (N, 1, E)
            feats = feats.float()
            self.frames_encoded += len(order)
            for k, feat in zip(order, feats[:, 0], strict=True):
                self._cache[k] = feat
        per_clip = torch.stack([torch.stack([self._cache[_key(f)] for f in clip]) for clip in clips])  # (B, T, E)
        videos = F.normalize(per_clip.mean(dim=1), dim=-1)  # (B, E)
        return self.model.logits_from_embeddings(videos, text_prompts)  # (B, C); class texts cached by the model

    def forget_before(self, frame_index: int) -> None:
        """Drop cached embeddings of frames before ``frame_index`` (no later window can use them)."""
        for i in [k for k in self._cache if k[0] < frame_index]:
            del self._cache[i]


def _key(frame: TimedFrame) -> tuple[int, int | None]:
    """A face's cache key: its frame and its track (a frame may show several people)."""
    return frame.index, frame.track

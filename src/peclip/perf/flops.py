"""FLOPs per clip, counted with torch's ``FlopCounterMode`` on a weightless (meta) twin of the model.

Counting costs no compute (docs/spec.md 6.3 estimates ~297 GMACs per 16-frame ViT-B/16 clip).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from peclip.factory import create_model
from peclip.model import PEClip
from peclip.perf.reference import math_attention


@dataclass(frozen=True)
class FlopCount:
    """FLOPs (2 per multiply-add) of one model configuration, counted by torch's ``FlopCounterMode``.

    ``vision_forward`` is per clip (with the vision prompts' coupling layers); ``text_forward`` is one
    pass of the text tower over all class texts, shared by a batch. The ``*_train`` figures are
    forward plus backward (input gradients through the frozen tower, weight gradients of the
    trainable parts only), so one training step at batch B costs ``B * vision_train + text_train``.
    """

    frames: int
    vision_forward: int
    text_forward: int
    vision_train: int
    text_train: int

    def train_step(self, batch_size: int) -> int:
        return batch_size * self.vision_train + self.text_train


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` (including any backward it runs), by ``FlopCounterMode``.

    Attention is counted through the math kernel (the fused kernels do the same arithmetic, but the
    CPU one is not in torch's FLOP table), and ``nn.MultiheadAttention``'s fused inference path is
    switched off while counting (it would hide its matrix products from the counter).
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with math_attention(), FlopCounterMode(display=False) as counter:
            fn(*args, **kwargs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


def flops(model: PEClip, frames: int | None = None) -> FlopCount:
    """Count the FLOPs of ``model``'s configuration and switches on a weightless (meta-device) twin.

    The twin has ``model``'s config, class texts and ``cls_only_last_block`` switch; no arithmetic
    runs, so this takes well under a second even for ViT-L/14.
    """
    frames = frames or model.config.num_frames
    with torch.device("meta"):
        twin = create_model(model.config)
    twin.set_class_texts(model.class_texts, model.class_names)
    twin.to("meta")
    twin.runtime = replace(model.runtime, cache_class_texts=False)
    twin.train()  # the text cache is only consulted in eval; the towers have no dropout
    size = model.sizes.image_size
    video = torch.empty(1, frames, 3, size, size, device="meta")  # (1, T, 3, H, W)
    with torch.no_grad():
        vision_forward = count_flops(twin.encode_video, video)
        text_forward = count_flops(twin.encode_classes)
    vision_train = count_flops(lambda: twin.encode_video(video).sum().backward())
    text_train = count_flops(lambda: twin.encode_classes().sum().backward())
    return FlopCount(frames, vision_forward, text_forward, vision_train, text_train)

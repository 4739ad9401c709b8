"""The official code's way of running a model: the baseline every benchmark compares against.

* :func:`configure_reference` / :func:`reference_model`: the model as the official PE-CLIP code runs it
  (fp32, the TDA's GRU over the flattened batch*frames axis (docs/spec.md 2.4, 10 A1), class texts
  recomputed on every forward, the full last vision block); :func:`math_attention` adds the unfused
  attention kernel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch.nn.attention import SDPBackend, sdpa_kernel

from peclip.config import RuntimeOptions
from peclip.factory import create_model, resolve_config
from peclip.model import PEClip


def configure_reference(model: PEClip) -> PEClip:
    """Switch ``model`` (in place) to the official code's way of running: every shortcut off.

    Class texts are recomputed on every forward over the whole 77-token context, the last vision
    block runs for all tokens and no block is checkpointed. The GRU's axis is part of the config
    (``temporal.per_video``), so a full reference model comes from :func:`reference_model`. Run it in
    fp32 under :func:`math_attention`.
    """
    model.runtime = RuntimeOptions.reference()
    return model


def configure_default(model: PEClip, grad_checkpointing: bool = False) -> PEClip:
    """Switch ``model`` (in place) to peclip's defaults: cached, trimmed class texts, class-token-only last block."""
    model.runtime = RuntimeOptions(grad_checkpointing=grad_checkpointing)
    return model


def reference_model(model: PEClip) -> PEClip:
    """A copy of ``model`` with the same weights that runs as the official code does.

    The copy is rebuilt from ``model``'s config with the GRU over the flattened batch*frames axis
    (``temporal.per_video=False``, docs/spec.md 10 A1), gets all of ``model``'s weights (frozen and
    trainable) and its class texts, lives on ``model``'s device and is switched by
    :func:`configure_reference`. With one clip per batch the two GRU axes are the same computation,
    so both models give the same logits at batch 1.
    """
    config = resolve_config(model.config, **{"temporal.per_video": False})
    device = next(model.parameters()).device
    ref = create_model(config)
    ref.set_class_texts(model.class_texts, model.class_names)
    ref.load_state_dict(model.state_dict(), strict=True)
    ref.pretrained = model.pretrained
    ref.to(device).train(model.training)
    return configure_reference(ref)


@contextlib.contextmanager
def math_attention() -> Iterator[None]:
    """Run every scaled-dot-product attention through the unfused math kernel (the reference mode)."""
    with sdpa_kernel(SDPBackend.MATH):
        yield

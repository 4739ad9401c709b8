"""Zero-shot models: pretrained CLIP and class texts, no fine-tuning.

Without a fine-tuned checkpoint, a plain CLIP (``clip-vit-b16`` and siblings: prompts, adapters and
TDA off) scores each window against one text per class. The texts are a text kind of
:mod:`peclip.labels` (PE-CLIP's AU descriptions by default). Prompt ensembling (CLIP paper, sec. 3.1.4)
averages the normalised text embeddings of several templates per class; the model does the averaging
(``ModelConfig.text_templates``), this module only names the template sets.
"""

from __future__ import annotations

import logging

from peclip.factory import create_model
from peclip.labels import TEXT_KINDS
from peclip.model import PEClip

log = logging.getLogger(__name__)

#: named template sets; "{}" receives the class text
TEMPLATE_SETS: dict[str, list[str]] = {
    "none": ["{}"],
    "ensemble": [
        "{}",
        "a photo of a face showing {}",
        "a close-up photo of a person's face: {}",
        "a video frame of a face with {}",
        "a facial expression with {}",
        "a cropped photo of a face showing {}",
    ],
}


def resolve_templates(templates: str | list[str] | None) -> list[str]:
    """A template set name (``none``, ``ensemble``), a list of templates, or None (``["{}"]``)."""
    if templates is None:
        return list(TEMPLATE_SETS["none"])
    if isinstance(templates, str):
        if templates in TEMPLATE_SETS:
            return list(TEMPLATE_SETS[templates])
        if "{}" in templates:
            return [templates]
        raise ValueError(f"templates={templates!r} is neither a template set ({', '.join(TEMPLATE_SETS)}) nor a "
                         "template with '{}' for the class text, e.g. 'a photo of a face showing {}'")
    templates = list(templates)
    bad = [t for t in templates if not isinstance(t, str) or "{}" not in t]
    if not templates or bad:
        raise ValueError(f"each template needs one '{{}}' for the class text; bad: {bad or templates!r}")
    return templates


def untrained_parts(model: PEClip) -> bool:
    """True when the model has prompts or adapters (a PE-CLIP model, meaningful only after fine-tuning)."""
    return len(model.trainable_parameters()) > 0


def zero_shot_model(name: str = "clip-vit-b16", pretrained: str | None = None, texts: str = "au",
                    templates: str | list[str] | None = None, label_set: str | None = None, **overrides) -> PEClip:
    """A model for zero-shot prediction: ``name``'s CLIP with ``pretrained`` weights and class texts ``texts``.

    ``texts`` is a text kind (``au``, ``dfer_clip``, ``names``, ``names_context``); ``templates`` a
    template set name, a list of templates or None; ``label_set`` ``basic7`` (default) or ``mafw11``;
    ``overrides`` are further ModelConfig fields (``--set model.*``).
    """
    if texts not in TEXT_KINDS:
        raise ValueError(f"texts={texts!r} is not a text kind; choose one of {', '.join(TEXT_KINDS)}")
    overrides = {"text_kind": texts, "text_templates": resolve_templates(templates), **overrides}
    if label_set is not None:
        overrides["label_set"] = label_set
    model = create_model(name, pretrained=pretrained, **overrides)
    if untrained_parts(model):
        log.warning("%s has prompts/adapters that are randomly initialised: its predictions mean nothing until it "
                    "is fine-tuned. For zero-shot prediction use a plain CLIP model (clip-vit-b16, clip-vit-b32, "
                    "clip-vit-l14); for a trained model pass --checkpoint", name)
    if pretrained is None:
        log.warning("%s has random CLIP weights (no pretrained weights given): its predictions are noise; pass "
                    "pretrained='openai' or a local CLIP weights file", name)
    return model.eval()

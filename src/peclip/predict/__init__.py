"""Prediction on anyone's video: sliding windows -> per-window class probabilities -> timeline and summary.

Usage::

    model = peclip.load("runs/dfew-fold1")                       # a fine-tuned model, or zero-shot:
    model = peclip.predict.zero_shot_model("clip-vit-b16", pretrained="openai", texts="au")
    result = peclip.predict_video(model, "clip.mp4")
    result.timeline        # one record per window: start, end, face, p_<class>, top, ...
    result.summary         # dominant emotion and its share of the face time, per face track
    result.to_csv("clip.csv"); result.plot("clip.png"); result.write_overlay("clip_overlay.mp4")
    photo = peclip.predict.predict_image(model, "photo.jpg")   # one row per face, a bar chart, labels drawn

The names below are imported on first use, so the CLI can read :class:`PredictOptions` defaults
without loading torch.
"""

from __future__ import annotations

from peclip.lazy import lazy_exports

_EXPORTS = {
    "compound_names": "peclip.predict.compound", "compound_scores": "peclip.predict.compound",
    "find_inputs": "peclip.predict.inputs", "PredictOptions": "peclip.predict.options",
    "PredictionResult": "peclip.predict.result", "predict_video": "peclip.predict.runner",
    "TEMPLATE_SETS": "peclip.predict.zeroshot", "resolve_templates": "peclip.predict.zeroshot",
    "zero_shot_model": "peclip.predict.zeroshot", "predict_image": "peclip.predict.stills",
    "ImagePrediction": "peclip.predict.stills",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("peclip.predict", _EXPORTS)

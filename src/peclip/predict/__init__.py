"""Prediction on anyone's video: sliding windows -> per-window class probabilities -> timeline and summary.

Usage::

    model = peclip.load("runs/dfew-fold1")                       # a fine-tuned model, or zero-shot:
    model = peclip.predict.zero_shot_model("clip-vit-b16", pretrained="openai", texts="au")
    result = model.predict_video("clip.mp4")                     # or peclip.predict.predict_video(model, ...)
    result.timeline        # one record per window: start, end, face, p_<class>, top, ...
    result.summary         # dominant emotion and its share of the face time, per face track
    result.to_csv("clip.csv"); result.plot("clip.png"); result.write_overlay("clip_overlay.mp4")
"""

from peclip.predict.compound import compound_names, compound_scores
from peclip.predict.inputs import find_inputs
from peclip.predict.options import PredictOptions
from peclip.predict.result import PredictionResult
from peclip.predict.runner import predict_video
from peclip.predict.zeroshot import TEMPLATE_SETS, resolve_templates, zero_shot_model

__all__ = [
    "PredictOptions", "PredictionResult", "TEMPLATE_SETS", "compound_names", "compound_scores", "find_inputs",
    "predict_video", "resolve_templates", "zero_shot_model",
]

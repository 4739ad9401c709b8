"""Evaluation and looking at a trained model: the evaluation loop, evaluating saved models, reports,
expected numbers, explanations (attention maps, temporal saliency), embeddings and plots."""

"""Evaluation: the evaluation loop, evaluating saved models, and the reports they write."""

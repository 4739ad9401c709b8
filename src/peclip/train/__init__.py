"""Training: recipes and configs, schedule, run folders and checkpoints, DDP, folds, evaluation."""

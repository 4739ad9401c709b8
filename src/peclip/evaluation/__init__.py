"""Looking at a trained model: explanations (attention maps, temporal saliency), embeddings and plots."""

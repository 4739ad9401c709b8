"""Shared helpers for the CSIM tests."""

import numpy as np


def tie_free_image(rng: np.random.Generator, height: int, width: int, patch: int = 8) -> np.ndarray:
    """uint8 image whose every patch has distinct values in every channel."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    for r in range(0, height, patch):
        for c in range(0, width, patch):
            for ch in range(3):
                image[r:r + patch, c:c + patch, ch] = rng.permutation(256)[: patch * patch].reshape(patch, patch)
    return image

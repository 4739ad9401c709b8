"""TSN frame sampling (docs/spec.md 2.2): which ``num_frames`` frames of an ``N``-frame clip make the sample."""

from __future__ import annotations

import numpy as np


def tsn_indices(num_total: int, num_frames: int = 16, train: bool = False,
                rng: np.random.Generator | None = None) -> list[int]:
    """TSN segment sampling exactly as the official loader does it (``duration=1``, docs/spec.md 2.2).

    - train, ``N >= T``: ``avg = N // T``; frame ``i`` is ``i * avg + randint(avg)``, one random frame
      in each of ``T`` equal segments (the frames past ``T * avg`` are never drawn). ``N == T`` gives
      every frame.
    - test, ``N > T``: ``tick = N / T``; frame ``i`` is ``int(tick / 2 + tick * i)``, segment centres.
    - otherwise (``N < T``, or ``N == T`` at test): ``0 .. N-1`` then ``N-1`` repeated (edge padding).

    ``rng`` draws the training offsets (pass a seeded generator for a reproducible clip; a fresh
    unseeded one is used when ``None``). Test sampling uses no randomness.
    """
    if not isinstance(num_total, (int, np.integer)) or num_total < 1:
        raise ValueError(f"a clip needs at least one frame to sample from, got num_total={num_total!r}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames!r}")
    num_total, num_frames = int(num_total), int(num_frames)
    if train:
        average = num_total // num_frames
        if average > 0:
            rng = np.random.default_rng() if rng is None else rng
            offsets = rng.integers(average, size=num_frames)  # one draw per segment, each in [0, avg)
            return [i * average + int(o) for i, o in enumerate(offsets)]
    elif num_total > num_frames:
        tick = num_total / float(num_frames)
        return [int(tick / 2.0 + tick * i) for i in range(num_frames)]
    return list(range(num_total)) + [num_total - 1] * (num_frames - num_total)

"""CSIM speed: ms per 224x224x3 pair, per mode, against a per-patch loop over the definition.

    python benchmarks/bench_csim.py [--repeats 20] [--clip-frames 150]

Modes: ``loop`` (one patch at a time, argsort(argsort) per patch: the reference's structure, written
here from the definition), ``faithful`` (our vectorised numpy), ``exact`` (numpy, average ranks +
ndtri), ``torch`` (exact variant, one pair and a batch of 16 pairs, CPU; CUDA when present). Then the
frame sampler on a clip of 224x224 frames. Uses the real face in ../shared/data when present.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from peclip.data.csim_sampling import consecutive_csim, csim_frame_indices
from peclip.metrics.copula import csim, csim_torch, winitzki_erfinv

FACE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "0-f15-hao-ph.jpg"


def loop_csim(a: np.ndarray, b: np.ndarray, patch: int = 8) -> float:
    """Per-patch loop over the definition, as a speed baseline."""
    sims = []
    for r in range(0, a.shape[0] - patch + 1, patch):
        for c in range(0, a.shape[1] - patch + 1, patch):
            vectors = []
            for im in (a, b):
                features = im[r:r + patch, c:c + patch].reshape(-1, im.shape[2])
                u = (np.argsort(np.argsort(features, axis=0), axis=0) + 1).mean(axis=1) / (len(features) + 1)
                vectors.append(np.nan_to_num(math.sqrt(2) * winitzki_erfinv(2 * u - 1)))
            sims.append(max(0.0, 1 - np.linalg.norm(vectors[0] - vectors[1]) / patch))
    return float(np.mean(sims))


def timed_ms(fn, repeats: int) -> float:
    """Best of ``repeats`` single calls, in ms (the minimum is the figure least disturbed by other load)."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def load_pair() -> tuple[np.ndarray, np.ndarray, str]:
    import cv2

    if FACE.is_file():
        face = cv2.resize(cv2.imread(str(FACE)), (224, 224), interpolation=cv2.INTER_AREA)
        source = f"real face {FACE.name}"
    else:
        face = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
        source = "random uint8 (real face absent)"
    noisy = np.clip(face + np.random.default_rng(1).normal(0, 8, face.shape), 0, 255).astype(np.uint8)
    return face, noisy, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clip-frames", type=int, default=150)
    args = parser.parse_args()
    a, b, source = load_pair()
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"numpy {np.__version__}, torch {torch.__version__}; input: {source}, 224x224x3 uint8, patch 8")

    ms = {"loop (reference structure)": timed_ms(lambda: loop_csim(a, b), max(1, args.repeats // 10))}
    ms["faithful numpy (vectorised)"] = timed_ms(lambda: csim(a, b), args.repeats)
    ms["exact numpy (average ties, ndtri)"] = timed_ms(
        lambda: csim(a, b, ties="average", inverse="exact"), args.repeats
    )
    ta = torch.from_numpy(a).permute(2, 0, 1).contiguous()  # (3, 224, 224)
    tb = torch.from_numpy(b).permute(2, 0, 1).contiguous()
    with torch.inference_mode():
        ms["torch exact, CPU, 1 pair"] = timed_ms(lambda: csim_torch(ta, tb), args.repeats)
        batch_a, batch_b = ta.expand(16, -1, -1, -1).contiguous(), tb.expand(16, -1, -1, -1).contiguous()
        ms["torch exact, CPU, per pair in a batch of 16"] = (
            timed_ms(lambda: csim_torch(batch_a, batch_b), max(1, args.repeats // 4)) / 16
        )
        if torch.cuda.is_available():
            ga, gb = batch_a.cuda(), batch_b.cuda()

            def on_gpu() -> None:
                csim_torch(ga, gb)
                torch.cuda.synchronize()

            ms["torch exact, CUDA, per pair in a batch of 16"] = timed_ms(on_gpu, args.repeats) / 16
        fa, fb = ta.float() / 255, tb.float() / 255
        ms["torch exact, CPU, float32 input, 1 pair"] = timed_ms(lambda: csim_torch(fa, fb), args.repeats)
    check = abs(loop_csim(a, b) - csim(a, b).score)
    baseline = ms["loop (reference structure)"]
    print(f"{'mode (best of repeats)':<46}{'ms/pair':>10}{'speed-up vs loop':>18}")
    for name, value in ms.items():
        print(f"{name:<46}{value:>10.2f}{baseline / value:>17.1f}x")
    print(f"faithful vs loop |score difference| = {check:.2e}")

    rng = np.random.default_rng(2)
    clip = np.clip(a[None] + rng.normal(0, 6, (args.clip_frames, *a.shape)), 0, 255).astype(np.uint8)
    print(f"\nframe sampling, clip of {args.clip_frames} frames 224x224x3, T = 16")
    for max_side in (64, 112, None):
        value = timed_ms(lambda m=max_side: csim_frame_indices(clip, 16, max_side=m), 3)
        print(f"  csim_frame_indices(max_side={max_side}): {value:8.1f} ms per clip")
    value = timed_ms(lambda: consecutive_csim(clip), 3)
    print(f"  consecutive_csim (full resolution):    {value:8.1f} ms per clip "
          f"({value / (args.clip_frames - 1):.2f} ms per consecutive pair)")


if __name__ == "__main__":
    main()

"""Benchmark the data pipeline: DataLoader throughput (clips/s) on synthetic frame folders.

It writes ``--clips`` frame folders of ``--clip-frames`` JPEG frames (``--src-size`` px square, like
DFEW's 224 x 224 face crops) into a temporary folder, then times whole passes of a training
DataLoader (TSN sampling of ``--frames`` frames, the ``--augment`` train transforms, batches of
``--batch-size``) for each worker count in ``--workers``. Passes of all worker counts are interleaved
round by round, so load on a shared machine hits each alike; the ratio is against ``workers=0``
(decoding in the training process), measured in the same run. Example (docs/data.md):

  python benchmarks/bench_data.py --workers 0,2 --batch-size 4 --frames 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
from peclip.data.config import DataConfig  # noqa: E402
from peclip.data.dataset import ClipDataset, build_dataloader, set_loader_epoch  # noqa: E402
from peclip.data.manifest import ClipItem  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts (0 is the baseline)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--frames", type=int, default=16, help="frames per clip (T)")
    p.add_argument("--clips", type=int, default=48, help="synthetic clips written")
    p.add_argument("--clip-frames", type=int, default=60, help="frames per synthetic clip on disk (N)")
    p.add_argument("--src-size", type=int, default=224, help="side of the frames on disk")
    p.add_argument("--image-size", type=int, default=224, help="side of the clips the loader returns")
    p.add_argument("--augment", default="dfew", help="train augmentation recipe (dfew, ferv39k, afew, mafw, none)")
    p.add_argument("--rounds", type=int, default=3, help="timed passes per worker count")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p.parse_args(argv)


def write_clips(root: Path, clips: int, frames: int, size: int) -> list[ClipItem]:
    """Frame folders of smooth random images (JPEG sizes like real faces', not like noise)."""
    rng = np.random.default_rng(0)
    items = []
    for c in range(clips):
        folder = root / f"{c:05d}"
        folder.mkdir()
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        for f in range(frames):
            small = np.clip(base.astype(int) + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(small).resize((size, size), Image.BILINEAR).save(folder / f"{f + 1:05d}.jpg", quality=95)
        items.append(ClipItem(folder, c % 7, frames))
    return items


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    if 0 not in workers:
        workers = [0, *workers]
    info = common.machine_info(torch.device("cpu"))
    print(f"machine: {info['cpu']}, {info['cores']} cores, load average {info['load_average']}")
    with tempfile.TemporaryDirectory(prefix="peclip-bench-data-") as tmp:
        t0 = time.perf_counter()
        items = write_clips(Path(tmp), args.clips, args.clip_frames, args.src_size)
        print(f"wrote {args.clips} clips x {args.clip_frames} frames of {args.src_size} px in "
              f"{time.perf_counter() - t0:.1f} s")
        cfg = DataConfig(num_frames=args.frames, image_size=args.image_size, augment=args.augment)
        loaders = {}
        for w in workers:
            dataset = ClipDataset(items, cfg, train=True, seed=0)
            loaders[w] = build_dataloader(dataset, args.batch_size, train=True, num_workers=w, pin_memory=False)
        times: dict[int, list[float]] = {w: [] for w in workers}
        clips_per_pass = (len(items) // args.batch_size) * args.batch_size
        for epoch in range(args.rounds + 1):  # pass 0 warms up (worker start, file cache)
            for w in workers:
                set_loader_epoch(loaders[w], epoch)
                start = time.perf_counter()
                seen = sum(batch[0].shape[0] for batch in loaders[w])
                elapsed = time.perf_counter() - start
                assert seen == clips_per_pass
                if epoch:
                    times[w].append(elapsed)
        del loaders
    base = statistics.median(times[0])
    results = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "workers": {}}
    print(f"\nDataLoader, train transforms '{args.augment}', T={args.frames}, batch {args.batch_size}, "
          f"{clips_per_pass} clips per pass, median of {args.rounds} passes")
    print(f"{'workers':>8} {'clips/s':>9} {'ms/clip':>8} {'vs workers=0':>13}")
    for w in workers:
        med = statistics.median(times[w])
        rate = clips_per_pass / med
        results["workers"][w] = {"clips_per_s": rate, "seconds_per_pass": times[w], "ratio_vs_0": base / med}
        print(f"{w:>8} {rate:>9.1f} {1000 * med / clips_per_pass:>8.1f} {base / med:>12.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()

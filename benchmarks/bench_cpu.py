"""Which ``--precision`` to use on this CPU: fp32 / bf16 / int8 throughput, fraction of peak, agreement with fp32.

    python benchmarks/bench_cpu.py [--models peclip-vit-b16 clip-vit-b16] [--precisions fp32 bf16 int8]
                                   [--stride 0.25] [--random-clips 16] [--max-windows N] [--bf16-clips N]
                                   [--json out.json]

The measurement is the library's (:mod:`peclip.perf.cpu`, also behind ``peclip bench-cpu``):

1. Peaks: the measured matrix-product throughput of this machine per precision.
2. Clips: every window (2 s, ``--stride`` apart, T frames by TSN) of the real face videos in
   ``../shared/data`` (WolfgangLanger_Pexels.mp4, single_face.mp4; face-tracked as ``peclip predict``
   does) plus ``--random-clips`` random clips.
3. Per model (random weights: the agreement is of the arithmetic, not of a trained model's
   decisions; every TDA gets a non-zero up-projection so that its GRU matters) and precision:
   seconds per clip, GFLOP/s and the fraction of that precision's peak, and, against fp32, the
   top-1 agreement and the largest probability difference over all clips.
4. The recommendation: the fastest precision whose top-1 agreement is at least ``--min-agreement``.

bf16 on a CPU without native bf16 (no avx512_bf16 / amx_bf16) is emulated and several times slower
than fp32; ``--bf16-clips N`` runs it on N of the clips (evenly spread) only, compared with fp32 there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
from peclip.perf import cpu  # noqa: E402
from peclip.precision import cpu_bf16_support  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEOS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["peclip-vit-b16", "clip-vit-b16"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=cpu.CPU_PRECISIONS)
    parser.add_argument("--stride", type=float, default=0.25, help="seconds between real-video windows")
    parser.add_argument("--random-clips", type=int, default=16)
    parser.add_argument("--max-windows", type=int, help="use at most this many real windows (evenly spread)")
    parser.add_argument("--bf16-clips", type=int, help="run bf16 on this many clips only (evenly spread)")
    parser.add_argument("--min-agreement", type=float, default=0.99)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--peak-size", type=int, default=1024, help="matrix size of the peak measurement")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = {**common.machine_info(torch.device("cpu")), "native_bf16": cpu_bf16_support()}
    print(f"machine: {info}", flush=True)
    peaks = cpu.matmul_peaks(args.precisions, args.peak_size)
    for p, peak in peaks.items():
        print(f"matmul peak {p}: {peak['wall'] / 1e9:.1f} GFLOP/s wall, {peak['cpu'] / 1e9:.1f} per CPU-s", flush=True)
    videos = [DATA / name for name in VIDEOS if (DATA / name).is_file()]
    report = {"machine": info, "peaks": peaks, "models": {}}
    for name in args.models:
        model = cpu.random_weights_model(name)
        size, t = model.preprocess.size, model.preprocess.num_frames
        print(f"{name} (random weights), {t} frames of {size}x{size}:", flush=True)
        clips, counts = cpu.real_clips(videos, size, t, args.stride)
        print(f"  real windows with a face: {counts}", flush=True)
        if args.max_windows and len(clips) > args.max_windows:
            keep = np.linspace(0, len(clips) - 1, args.max_windows).round().astype(int)
            clips = [clips[i] for i in keep]
        real = len(clips)
        clips += cpu.random_clips(args.random_clips, t, size)
        subsets = None
        if "bf16" in args.precisions and args.bf16_clips and args.bf16_clips < len(clips):
            subsets = {"bf16": np.linspace(0, len(clips) - 1, args.bf16_clips).round().astype(int).tolist()}

        def progress(run: cpu.PrecisionRun) -> None:
            print(f"  {run.precision}: {run.s_per_clip:.2f} s per clip ({run.cpu_s_per_clip:.2f} CPU-s), setup "
                  f"{run.setup_s:.1f} s, load {run.load_average}", flush=True)

        result = cpu.bench_model(model, clips, args.precisions, real=real, peaks=peaks,
                                 min_agreement=args.min_agreement, subsets=subsets, on_run=progress)
        for line in cpu.format_report(result):
            print(line, flush=True)
        for precision, row in result["rows"].items():
            for label in ("real", "random"):
                a = row.get(f"agreement_{label}")
                if a:
                    print(f"  {precision} vs fp32, {label}: {a['clips']} clips, top-1 {100 * a['top1_agreement']:.1f} "
                          f"%, max |dp| {a['max_prob_diff']:.4f}, mean |dp| {a['mean_prob_diff']:.5f}", flush=True)
            for flip in row.get("disagreements", []):
                print(f"  {precision} differs from fp32 on clip {flip['clip']}: fp32's top-2 margin "
                      f"{flip['fp32_top2_margin']:.4f}, max |dp| {flip['max_prob_diff']:.4f}", flush=True)
        report["models"][name] = {**result, "real_windows_per_video": counts}
        del model
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

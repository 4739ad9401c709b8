"""Which ``--precision`` to use on this CPU: fp32 / bf16 / int8 throughput, fraction of peak, agreement with fp32.

    python benchmarks/bench_cpu.py [--models peclip-vit-b16 clip-vit-b16] [--precisions fp32 bf16 int8]
                                   [--stride 0.25] [--random-clips 16] [--max-windows N] [--json out.json]

1. Peaks: the measured matrix-product throughput of this machine per precision (fp32 and bf16:
   a ``--peak-size``^3 ``F.linear``, 1024 by default, bf16 under autocast as the model runs it;
   int8: the same product as an onnxruntime dynamically quantised MatMul,
   the kernel the int8 path runs).
2. Clips: every window (2 s, ``--stride`` apart, T frames by TSN) of the real face videos in
   ``../shared/data`` (WolfgangLanger_Pexels.mp4, single_face.mp4; face-tracked as ``peclip predict``
   does) plus ``--random-clips`` random clips.
3. Per model (random weights: the agreement is of the arithmetic, not of a trained model's
   decisions; every TDA gets a non-zero up-projection so that its GRU matters) and precision:
   seconds per clip, GFLOP/s and the fraction of that precision's peak, and, against fp32, the
   top-1 agreement and the largest probability difference over all clips.
4. The recommendation: the fastest precision whose top-1 agreement is at least ``--min-agreement``.

bf16 on a CPU without native bf16 (no avx512_bf16 / amx_bf16) is emulated and slow; it is still
measured (for the agreement) unless left out of ``--precisions``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import peclip  # noqa: E402
from peclip import perf  # noqa: E402
from peclip.precision import autocast, cpu_bf16_support  # noqa: E402
from peclip.predict.int8 import compare_probabilities, probabilities, quantize_int8  # noqa: E402
from peclip.predict.runner import sample_clip  # noqa: E402
from peclip.predict.scorer import frames_to_tensor  # noqa: E402
from peclip.predict.source import FaceFrameSource  # noqa: E402
from peclip.predict.windows import SlidingWindows  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEOS = ["WolfgangLanger_Pexels.mp4", "single_face.mp4"]


def torch_linear_peak(precision: str, size: int, repeats: int) -> dict[str, float]:
    """FLOP/s of ``F.linear`` on ``(size, size)`` fp32 tensors, under bf16 autocast for ``bf16`` (the op and
    the dispatch the vision tower's layers use; a bare bf16 ``matmul`` takes a slower path on AVX2)."""
    x, w = torch.randn(size, size), torch.randn(size, size)
    best_wall = best_cpu = float("inf")
    with torch.inference_mode(), autocast("cpu", precision):
        for _ in range(repeats + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            torch.nn.functional.linear(x, w)
            best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    flop = 2 * size**3
    return {"wall": flop / best_wall, "cpu": flop / best_cpu}


def int8_matmul_peak(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """FLOP/s of an onnxruntime dynamically quantised ``(size, size) @ (size, size)`` MatMul."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
                              [numpy_helper.from_array(weight, "w")])
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "mm.onnx", Path(tmp) / "mm8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), fp32)
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice on the root logger
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        session.run(None, {"x": x})
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    flop = 2 * size**3
    return {"wall": flop / best_wall, "cpu": flop / best_cpu}


def vision_gflop(model: peclip.PEClip, frames: int) -> float:
    """GFLOP of one clip through the vision tower, counted on a weightless twin (no arithmetic runs)."""
    with torch.device("meta"):
        twin = peclip.create_model(model.config)
    twin.runtime = model.runtime
    size = model.preprocess.size
    with torch.no_grad():
        return perf.count_flops(twin.eval().encode_video, torch.zeros(1, frames, 3, size, size, device="meta")) / 1e9


def real_windows(size: int, num_frames: int, stride: float, window: float = 2.0) -> list[torch.Tensor]:
    """Every face window of the real videos as a ``(T, 3, S, S)`` clip."""
    clips = []
    for name in VIDEOS:
        path = DATA / name
        if not path.is_file():
            print(f"  {path} not found: skipped")
            continue
        source = FaceFrameSource(path, size)
        sliding = SlidingWindows(window, stride)
        windows = []
        for frame in source:
            windows += sliding.push(frame)
        windows += sliding.finish(source.duration)
        kept = [w for w in windows if w.has_face(0.5)]
        for w in kept:
            clips.append(frames_to_tensor([f.crop for f in sample_clip(w, num_frames, "tsn")], torch.device("cpu")))
        print(f"  {name}: {len(windows)} windows, {len(kept)} with a face", flush=True)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["peclip-vit-b16", "clip-vit-b16"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=["fp32", "bf16", "int8"])
    parser.add_argument("--stride", type=float, default=0.25, help="seconds between real-video windows")
    parser.add_argument("--random-clips", type=int, default=16)
    parser.add_argument("--max-windows", type=int, help="use at most this many real windows (evenly spread)")
    parser.add_argument("--min-agreement", type=float, default=0.99)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--peak-size", type=int, default=1024, help="matrix size of the peak measurement")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    info = {**common.machine_info(device), "native_bf16": cpu_bf16_support()}
    print(f"machine: {info}", flush=True)

    peaks = {"fp32": torch_linear_peak("fp32", args.peak_size, 3), "bf16": torch_linear_peak("bf16", args.peak_size, 3)}
    if "int8" in args.precisions:
        peaks["int8"] = int8_matmul_peak(args.peak_size, 3)
    for p, peak in peaks.items():
        print(f"matmul peak {p}: {peak['wall'] / 1e9:.1f} GFLOP/s wall, {peak['cpu'] / 1e9:.1f} per CPU-s", flush=True)

    report = {"machine": info, "peaks": peaks, "models": {}}
    for name in args.models:
        torch.manual_seed(0)
        model = peclip.create_model(name).eval()
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for adapter in model.adapters():
                if hasattr(adapter, "rnn"):  # a TDA starts as the identity; give it a say
                    adapter.up_proj.weight.copy_(torch.randn(adapter.up_proj.weight.shape, generator=gen) * 0.2)
        size, t = model.preprocess.size, model.preprocess.num_frames
        print(f"{name} (random weights), {t} frames of {size}x{size}:", flush=True)
        clips = real_windows(size, t, args.stride)
        if args.max_windows and len(clips) > args.max_windows:
            keep = np.linspace(0, len(clips) - 1, args.max_windows).round().astype(int)
            clips = [clips[i] for i in keep]
        real = len(clips)
        gen = torch.Generator().manual_seed(2)
        clips += [torch.rand(t, 3, size, size, generator=gen) for _ in range(args.random_clips)]
        batches = [c.unsqueeze(0) for c in clips]  # batch 1, as windows arrive in a stream
        gflop = vision_gflop(model, t)  # per clip; the class texts are computed once and cached
        rows, probs = {}, {}
        for precision in args.precisions:
            start = time.perf_counter()
            runner = quantize_int8(model) if precision == "int8" else model
            setup = time.perf_counter() - start
            probabilities(runner, batches[:1], "bf16" if precision == "bf16" else "fp32")  # warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            probs[precision] = probabilities(runner, batches, "bf16" if precision == "bf16" else "fp32").numpy()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            per_clip, cpu_per_clip = wall / len(batches), cpu / len(batches)
            row = {"setup_s": setup, "s_per_clip": per_clip, "cpu_s_per_clip": cpu_per_clip,
                   "load_average": os.getloadavg()}
            if gflop:
                row.update(gflop_per_clip=gflop, gflops_cpu=gflop / cpu_per_clip,
                           fraction_of_peak=gflop * 1e9 / cpu_per_clip / peaks[precision]["cpu"])
            rows[precision] = row
            print(f"  {precision}: {per_clip:.2f} s per clip ({cpu_per_clip:.2f} CPU-s)"
                  + (f", {row['gflops_cpu']:.1f} GFLOP per CPU-s = {100 * row['fraction_of_peak']:.0f} % of the "
                     f"{precision} peak" if gflop else "") + f"; setup {setup:.1f} s", flush=True)
        for precision in args.precisions:
            if precision == "fp32" or "fp32" not in probs:
                continue
            for label, sl in (("real", slice(0, real)), ("random", slice(real, None)), ("all", slice(None))):
                if len(probs["fp32"][sl]):
                    agree = compare_probabilities(probs["fp32"][sl], probs[precision][sl])
                    rows[precision][f"agreement_{label}"] = agree.to_dict()
            a = rows[precision]["agreement_all"]
            print(f"  {precision} vs fp32 over {a['clips']} clips ({real} real windows + {len(clips) - real} random): "
                  f"top-1 agreement {100 * a['top1_agreement']:.1f} %, max |dp| {a['max_prob_diff']:.4f}", flush=True)
        ok = [p for p in args.precisions
              if p == "fp32" or rows[p].get("agreement_all", {}).get("top1_agreement", 0) >= args.min_agreement]
        best = min(ok, key=lambda p: rows[p]["s_per_clip"])
        speedups = {p: rows["fp32"]["s_per_clip"] / rows[p]["s_per_clip"] for p in rows} if "fp32" in rows else {}
        print(f"  {name}: use --precision {best}" + (f" ({speedups[best]:.2f}x fp32 in this run)" if speedups else "")
              + f"; within {100 * args.min_agreement:.0f} % top-1 agreement: {', '.join(ok)}", flush=True)
        report["models"][name] = {"real_windows": real, "random_clips": len(clips) - real, "rows": rows,
                                  "speedup_vs_fp32": speedups, "recommended": best}
        del model
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Which ``--precision`` to use on this CPU: each precision's throughput, fraction of peak and agreement with fp32.

The measurement behind ``peclip bench-cpu`` and ``benchmarks/bench_cpu.py``:

1. :func:`matmul_peaks`: this machine's matrix-product throughput per precision (fp32 and bf16: a
   ``size``³ ``F.linear``, bf16 under autocast as the model runs it; int8: the same product as an
   onnxruntime dynamically quantised MatMul, the kernel the int8 path runs).
2. Clips: :func:`real_clips` (every window of real face videos, face-tracked as ``peclip predict``
   does) and :func:`random_clips`.
3. :func:`measure_precision`: seconds (wall and CPU) per clip and the softmax probabilities, batch 1
   (as windows arrive in a stream); :func:`bench_model` runs every precision on the same clips,
   compares each with fp32 (top-1 agreement, largest probability difference) and
   :func:`recommend` picks the fastest precision whose top-1 agreement is at least ``min_agreement``.

Models built here have random weights (:func:`random_weights_model`): the agreement measured is that
of the arithmetic, not of a trained model's decisions. CPU time (all threads of the process) is the
steadier figure on a shared machine; run with ``OMP_WAIT_POLICY=PASSIVE`` so waiting threads sleep.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from peclip.factory import create_model
from peclip.model import PEClip
from peclip.perf.flops import count_flops
from peclip.precision import autocast, cpu_bf16_support
from peclip.predict.int8 import compare_probabilities, probabilities, quantize_int8

log = logging.getLogger(__name__)

CPU_PRECISIONS = ("fp32", "bf16", "int8")


def _best_time(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """The best wall and CPU seconds of ``repeats`` calls after one warm-up call."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - wall), min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def torch_linear_peak(precision: str, size: int = 1024, repeats: int = 3) -> dict[str, float]:
    """FLOP/s (``wall``, per ``cpu`` second) of ``F.linear`` on ``(size, size)`` fp32 tensors, under bf16
    autocast for ``bf16`` (the op and dispatch the vision tower's layers use)."""
    x, w = torch.randn(size, size), torch.randn(size, size)

    def run():
        with torch.inference_mode(), autocast("cpu", precision):
            torch.nn.functional.linear(x, w)

    wall, cpu = _best_time(run, repeats)
    flop = 2 * size**3
    return {"wall": flop / wall, "cpu": flop / cpu}


def int8_matmul_peak(size: int = 1024, repeats: int = 3) -> dict[str, float]:
    """FLOP/s of an onnxruntime dynamically quantised ``(size, size) @ (size, size)`` MatMul (int8 weights per
    channel, ``reduce_range`` as the int8 path quantises)."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
                              [numpy_helper.from_array(weight, "w")])
    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "mm.onnx", Path(tmp) / "mm8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), fp32)
        root.setLevel(logging.ERROR)  # the quantiser's advice goes to the root logger
        try:
            quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        finally:
            root.setLevel(level)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    wall, cpu = _best_time(lambda: session.run(None, {"x": x}), repeats)
    flop = 2 * size**3
    return {"wall": flop / wall, "cpu": flop / cpu}


def matmul_peaks(precisions: Sequence[str], size: int = 1024, repeats: int = 3) -> dict[str, dict[str, float]]:
    """The matrix-product peak of each of ``precisions`` on this machine (FLOP/s, ``wall`` and per ``cpu`` s)."""
    peaks = {}
    for precision in precisions:
        if precision == "int8":
            peaks[precision] = int8_matmul_peak(size, repeats)
        elif precision in ("fp32", "bf16"):
            peaks[precision] = torch_linear_peak(precision, size, repeats)
        else:
            raise ValueError(f"precision {precision!r} has no peak measurement; choose from "
                             f"{', '.join(CPU_PRECISIONS)}")
    return peaks


def vision_gflop(model: PEClip, frames: int) -> float:
    """GFLOP of one clip through the vision tower, counted on a weightless twin (no arithmetic runs)."""
    with torch.device("meta"):
        twin = create_model(model.config)
    twin.runtime = model.runtime
    size = model.preprocess.size
    with torch.no_grad():
        return count_flops(twin.eval().encode_video, torch.zeros(1, frames, 3, size, size, device="meta")) / 1e9


def random_weights_model(name: str, seed: int = 0) -> PEClip:
    """``name`` with random weights, every TDA given a non-zero up-projection (a TDA starts as the identity; this
    gives its GRU a say in the result, so that the int8 path's TDA is measured too)."""
    torch.manual_seed(seed)
    model = create_model(name).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for adapter in model.adapters():
            if hasattr(adapter, "rnn"):
                adapter.up_proj.weight.copy_(torch.randn(adapter.up_proj.weight.shape, generator=gen) * 0.2)
    return model


def random_clips(count: int, frames: int, size: int, seed: int = 2) -> list[torch.Tensor]:
    """``count`` clips ``(T, 3, S, S)`` of uniform noise in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(frames, 3, size, size, generator=gen) for _ in range(count)]


def real_clips(videos: Sequence[str | os.PathLike], size: int, frames: int, stride: float, window: float = 2.0,
               sampling: str = "tsn") -> tuple[list[torch.Tensor], dict[str, int]]:
    """Every face window (``window`` s, ``stride`` apart) of ``videos`` as a ``(T, 3, S, S)`` clip, face-tracked and
    sampled as ``peclip predict`` does; and the number of windows with a face per video."""
    from peclip.predict.runner import sample_clip
    from peclip.predict.scorer import frames_to_tensor
    from peclip.predict.source import FaceFrameSource
    from peclip.predict.windows import SlidingWindows

    clips, counts = [], {}
    for video in videos:
        source = FaceFrameSource(video, size)
        sliding = SlidingWindows(window, stride)
        windows = []
        for frame in source:
            windows += sliding.push(frame)
        windows += sliding.finish(source.duration)
        kept = [w for w in windows if w.has_face(0.5)]
        for w in kept:
            clips.append(frames_to_tensor([f.crop for f in sample_clip(w, frames, sampling)], torch.device("cpu")))
        counts[str(video)] = len(kept)
        log.info("%s: %d windows, %d with a face", video, len(windows), len(kept))
    return clips, counts


@dataclass
class PrecisionRun:
    """One precision on one model: setup (int8: export or cache read) and time per clip, and its probabilities."""

    precision: str
    setup_s: float
    s_per_clip: float
    cpu_s_per_clip: float
    probabilities: np.ndarray = field(repr=False)  # (N, C)
    load_average: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        return {"precision": self.precision, "setup_s": self.setup_s, "s_per_clip": self.s_per_clip,
                "cpu_s_per_clip": self.cpu_s_per_clip, "load_average": self.load_average}


def prepared(model: PEClip, precision: str, cache_dir: str | os.PathLike | bool | None = None) -> PEClip:
    """``model`` ready to run at ``precision``: an int8 copy for ``int8``, else ``model`` itself."""
    if precision not in CPU_PRECISIONS:
        raise ValueError(f"precision {precision!r} is not a CPU precision; choose from {', '.join(CPU_PRECISIONS)}")
    return quantize_int8(model, cache_dir=cache_dir) if precision == "int8" else model


def measure_precision(model: PEClip, precision: str, clips: Sequence[torch.Tensor],
                      cache_dir: str | os.PathLike | bool | None = None) -> PrecisionRun:
    """Run ``model`` at ``precision`` over ``clips`` (``(T, 3, S, S)`` each, batch 1) after one warm-up clip."""
    if not clips:
        raise ValueError("measure_precision needs at least one clip")
    start = time.perf_counter()
    runner = prepared(model, precision, cache_dir)
    setup = time.perf_counter() - start
    autocast_as = "bf16" if precision == "bf16" else "fp32"  # int8 is the runner's own graph
    batches = [c.unsqueeze(0) for c in clips]  # (1, T, 3, S, S) each
    probabilities(runner, batches[:1], autocast_as)  # warm-up (first-call allocations, onnxruntime's plan)
    wall, cpu = time.perf_counter(), time.process_time()
    probs = probabilities(runner, batches, autocast_as).numpy()  # (N, C)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return PrecisionRun(precision, setup, wall / len(batches), cpu / len(batches), probs, load)


def recommend(runs: dict[str, PrecisionRun], agreements: dict[str, dict],
              min_agreement: float) -> tuple[str, list[str]]:
    """The fastest precision (wall time per clip) whose top-1 agreement with fp32 is at least ``min_agreement``
    (fp32 always qualifies), and the list of those that qualify."""
    ok = [p for p in runs if p == "fp32" or agreements.get(p, {}).get("top1_agreement", 0.0) >= min_agreement]
    if not ok:
        raise ValueError("no precision qualifies: measure fp32 too (it is the reference)")
    return min(ok, key=lambda p: runs[p].s_per_clip), ok


def bench_model(model: PEClip, clips: Sequence[torch.Tensor], precisions: Sequence[str], *,
                real: int = 0, peaks: dict[str, dict[str, float]] | None = None, min_agreement: float = 0.99,
                cache_dir: str | os.PathLike | bool | None = None, subsets: dict[str, Sequence[int]] | None = None,
                on_run: Callable[[PrecisionRun], None] | None = None) -> dict:
    """Every precision of ``precisions`` (fp32 first, the reference) over ``clips``, of which the first ``real``
    come from real video: per precision its times, GFLOP per CPU-s and fraction of ``peaks``, agreement with
    fp32 (over the real clips, the random ones and all), and the recommendation. ``subsets`` may limit a
    slow precision (emulated bf16) to the clips of some indices; it is then compared with fp32 on those.
    ``on_run`` sees each run as it finishes (for progress output)."""
    order = ["fp32"] + [p for p in precisions if p != "fp32"]
    unknown = [p for p in order if p not in CPU_PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision(s) {unknown}; choose from {', '.join(CPU_PRECISIONS)}")
    gflop = vision_gflop(model, clips[0].shape[0])  # per clip; the class texts are computed once and cached
    runs: dict[str, PrecisionRun] = {}
    picked = {p: np.arange(len(clips)) for p in order}
    for precision, indices in (subsets or {}).items():
        if precision == "fp32":
            raise ValueError("fp32 is the reference: it runs on every clip")
        picked[precision] = np.asarray(sorted(set(indices)), dtype=int)
    for precision in order:
        runs[precision] = measure_precision(model, precision, [clips[i] for i in picked[precision]], cache_dir)
        if on_run is not None:
            on_run(runs[precision])
    rows, agreements = {}, {}
    for precision, run in runs.items():
        row = run.to_dict()
        if gflop:
            row["gflop_per_clip"] = gflop
            row["gflops_cpu"] = gflop / run.cpu_s_per_clip
            if peaks and precision in peaks:
                row["fraction_of_peak"] = gflop * 1e9 / run.cpu_s_per_clip / peaks[precision]["cpu"]
        row["x_fp32_wall"] = runs["fp32"].s_per_clip / run.s_per_clip
        row["x_fp32_cpu"] = runs["fp32"].cpu_s_per_clip / run.cpu_s_per_clip
        if precision != "fp32":
            reference = runs["fp32"].probabilities[picked[precision]]  # (n, C): fp32 on the same clips
            is_real = picked[precision] < real
            row["clips"] = len(picked[precision])
            for label, part in (("real", is_real), ("random", ~is_real), ("all", np.ones_like(is_real))):
                if part.any():
                    row[f"agreement_{label}"] = compare_probabilities(reference[part],
                                                                      run.probabilities[part]).to_dict()
            agreements[precision] = row["agreement_all"]
            row["disagreements"] = _disagreements(reference, run.probabilities, picked[precision])
        rows[precision] = row
    best, ok = recommend(runs, agreements, min_agreement)
    return {"model": model.config.name, "clips": len(clips), "real_clips": real, "random_clips": len(clips) - real,
            "rows": rows, "recommended": best, "qualifying": ok, "min_agreement": min_agreement}


def _disagreements(reference: np.ndarray, other: np.ndarray, indices: np.ndarray) -> list[dict]:
    """The clips whose top-1 differs from fp32's, with fp32's margin between its two most probable classes (a
    flip on a near tie says little about the precision; a random-weight model's probabilities are near-uniform)."""
    top2 = np.sort(reference, axis=1)[:, -2:]  # (N, 2)
    flipped = np.flatnonzero(reference.argmax(1) != other.argmax(1))
    return [{"clip": int(indices[i]), "fp32_top2_margin": float(top2[i, 1] - top2[i, 0]),
             "max_prob_diff": float(np.abs(reference[i] - other[i]).max())} for i in flipped]


def default_precisions() -> list[str]:
    """fp32 and int8, plus bf16 where the CPU has native bf16 (emulated bf16 is several times slower than fp32)."""
    return ["fp32", "bf16", "int8"] if cpu_bf16_support() else ["fp32", "int8"]


def format_report(report: dict) -> list[str]:
    """The lines ``peclip bench-cpu`` prints for one :func:`bench_model` report."""
    lines = [f"{report['model']} (random weights): {report['clips']} clips ({report['real_clips']} real windows, "
             f"{report['random_clips']} random)",
             "  precision  s/clip  CPU-s/clip  x fp32 (CPU)  % of peak  top-1 agreement  max |dp|"]
    for precision, row in report["rows"].items():
        agree = row.get("agreement_all")
        peak = f"{100 * row['fraction_of_peak']:.0f} %" if "fraction_of_peak" in row else "-"
        lines.append(f"  {precision:<9}  {row['s_per_clip']:6.2f}  {row['cpu_s_per_clip']:10.2f}  "
                     f"{row['x_fp32_cpu']:12.2f}  {peak:>9}  "
                     + (f"{100 * agree['top1_agreement']:14.1f} %  {agree['max_prob_diff']:.4f}" if agree
                        else f"{'(reference)':>16}  -"))
    lines.append(f"  use --precision {report['recommended']} (the fastest with top-1 agreement >= "
                 f"{100 * report['min_agreement']:.0f} %: {', '.join(report['qualifying'])})")
    return lines


def bench_cpu(model_name: str, precisions: Sequence[str] | None = None, random: int = 4,
              videos: Sequence[str | os.PathLike] = (), stride: float = 1.0, min_agreement: float = 0.99,
              peaks: bool = True, say: Callable[[str], None] = log.info) -> dict:
    """The whole measurement of ``peclip bench-cpu``: peaks, then :func:`bench_model` of ``model_name`` (random
    weights) over the face windows of ``videos`` and ``random`` random clips; ``say`` gets progress lines.
    ``precisions`` default to :func:`default_precisions`."""
    precisions = list(precisions or default_precisions())
    native = cpu_bf16_support()
    say(f"CPU: {os.cpu_count()} cores, {torch.get_num_threads()} threads; native bf16: "
        f"{native or 'no (bf16 would be emulated; --precision auto is fp32 here)'}")
    measured = matmul_peaks(precisions) if peaks else None
    for precision, peak in (measured or {}).items():
        say(f"matrix-product peak {precision}: {peak['cpu'] / 1e9:.1f} GFLOP per CPU-s "
            f"({peak['wall'] / 1e9:.1f} GFLOP/s wall)")
    model = random_weights_model(model_name)
    frames, size = model.preprocess.num_frames, model.preprocess.size
    clips, _ = real_clips(videos, size, frames, stride) if videos else ([], {})
    real = len(clips)
    clips += random_clips(random, frames, size)
    if not clips:
        raise ValueError(f"no face window found in {', '.join(map(str, videos))}; add random clips")

    def progress(run: PrecisionRun) -> None:
        say(f"  {run.precision}: {run.s_per_clip:.2f} s per clip ({run.cpu_s_per_clip:.2f} CPU-s), setup "
            f"{run.setup_s:.1f} s")

    report = bench_model(model, clips, precisions, real=real, peaks=measured, min_agreement=min_agreement,
                         on_run=progress)
    return {"native_bf16": native, "threads": torch.get_num_threads(), "peaks": measured, **report}

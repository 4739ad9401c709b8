"""Helpers shared by the benchmarks: machine description, interleaved timing, memory probes, tables.

Benchmarks are scripts, not tests: they print figures and ratios and may save them as JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

# Dense peak throughput in TFLOP/s (no sparsity; fp32 without TF32) by GPU name fragment and dtype, from the
# vendors' data sheets (H100/H200: SXM figures), first match wins. Used only to print the achieved fraction of
# peak; --peak-tflops overrides it.
GPU_PEAK_TFLOPS = {
    "H100 PCIe": {torch.bfloat16: 756.0, torch.float16: 756.0, torch.float32: 51.0},
    "H200": {torch.bfloat16: 989.0, torch.float16: 989.0, torch.float32: 67.0},
    "H100": {torch.bfloat16: 989.0, torch.float16: 989.0, torch.float32: 67.0},
    "A100": {torch.bfloat16: 312.0, torch.float16: 312.0, torch.float32: 19.5},
    "L4": {torch.bfloat16: 121.0, torch.float16: 121.0, torch.float32: 30.3},
}


def machine_info(device: torch.device) -> dict:
    """What the figures were measured on: processor, cores, threads, torch and, on CUDA, the GPU."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    flags = ""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and cpu in (platform.machine(), platform.processor(), ""):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    isa = [f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if f" {f}" in flags]
    info = {"cpu": cpu, "cpu_isa": isa[0] if isa else "unknown", "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(steps_by_mode: dict[str, Callable[[], object]], warmup: int, steps: int,
                device: torch.device, on_warmup: Callable[[str, int], contextlib.AbstractContextManager] | None = None,
                label: str = "") -> dict[str, dict[str, list[float]]]:
    """Wall-clock and process CPU seconds per call of each mode, measured in rounds that visit every mode once.

    Warm-up calls run mode by mode first (``on_warmup(mode, i)`` may wrap each, e.g. to probe memory).
    Then each round times every mode once, the order rotating from round to round, so that a change
    in the machine's load during the run hits all modes alike; compare modes round by round
    (:func:`paired_ratio`). Returns ``{mode: {"wall": [...], "cpu": [...]}}``.

    CPU seconds (all threads of this process) measure the work done and barely move when other jobs
    share the cores, where wall-clock time does; run with ``OMP_WAIT_POLICY=PASSIVE`` so that threads
    waiting at a barrier sleep instead of spinning (spinning would count as CPU time).
    """
    modes = list(steps_by_mode)
    for mode in modes:
        for i in range(warmup):
            wrap = on_warmup(mode, i) if on_warmup is not None else contextlib.nullcontext()
            start = time.perf_counter()
            with wrap:
                steps_by_mode[mode]()
                sync(device)
            print(f"  [{label}] warm-up {mode} {i + 1}/{warmup}: {time.perf_counter() - start:.2f} s", flush=True)
    times: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": []} for m in modes}
    for r in range(steps):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for mode in order:
            sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            steps_by_mode[mode]()
            sync(device)
            times[mode]["wall"].append(time.perf_counter() - wall)
            times[mode]["cpu"].append(time.process_time() - cpu)
        print(f"  [{label}] round {r + 1}/{steps}: " + ", ".join(
            f"{m} {times[m]['wall'][-1]:.2f} s ({times[m]['cpu'][-1]:.2f} CPU-s)" for m in modes), flush=True)
    return times


def paired_ratio(reference: list[float], other: list[float]) -> float:
    """Median over rounds of reference time / other time (> 1: ``other`` is faster)."""
    return statistics.median(r / o for r, o in zip(reference, other, strict=True))


# ----------------------------------------------------------------------------------------- memory

class PeakMemory:
    """Peak memory above the level at entry, for one block of work.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU (Linux): the process's peak resident set size
    (``VmHWM``), reset on entry through ``/proc/self/clear_refs`` after freed heap memory is handed
    back to the system (``malloc_trim``); elsewhere ``None``.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes: int | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            _malloc_trim()
            self._base = _reset_rss_peak()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        elif self._base is not None:
            self.peak_bytes = _status_bytes("VmHWM") - self._base


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_rss_peak() -> int | None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmRSS")
    except (OSError, KeyError):
        return None


@contextlib.contextmanager
def saved_activations(params: list[torch.nn.Parameter]) -> Iterator[dict[str, int]]:
    """Bytes of the tensors autograd keeps for the backward pass (weights excluded), counted once each.

    The count is exact and the same on every device: it is the activation memory of a training step.
    """
    weights = {p.untyped_storage().data_ptr() for p in params}
    seen: set[int] = set()
    result = {"bytes": 0}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in weights and ptr not in seen:
            seen.add(ptr)
            result["bytes"] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield result


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


# ---------------------------------------------------------------------------------------- peaks

def matmul_peak_flops(device: torch.device, dtype: torch.dtype, size: int = 2048,
                      repeats: int = 5) -> dict[str, float]:
    """Measured FLOP/s of a square matrix product, per wall second and per CPU second (best of ``repeats``).

    The practical peak of this machine for the benchmarks' fraction-of-peak figures.
    """
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        a @ b
        sync(device)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    flop = 2 * size**3
    return {"wall": flop / best_wall, "cpu": flop / best_cpu}


def gpu_peak_flops(device: torch.device, dtype: torch.dtype) -> float | None:
    name = torch.cuda.get_device_name(device)
    for fragment, peaks in GPU_PEAK_TFLOPS.items():
        if fragment in name and dtype in peaks:
            return peaks[dtype] * 1e12
    return None


# ----------------------------------------------------------------------------------------- output

def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (missing or ``None`` values print as a dash)."""
    def cell(v) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)

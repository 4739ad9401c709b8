"""Numeric precision: resolving ``auto`` and the one autocast helper every forward pass uses."""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

import torch

from peclip.config import INFERENCE_PRECISIONS, PRECISIONS

log = logging.getLogger(__name__)

#: /proc/cpuinfo flags of native bf16 dot products (AVX512-BF16 on Zen 4 / Cooper Lake+, AMX on Sapphire Rapids+)
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA, ``fp32`` elsewhere; ``bf16`` needs a device that supports it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not valid; choose one of: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"precision bf16 is not supported by {torch.cuda.get_device_name(device)}; "
                           "use train.precision=fp32")
    return precision


@functools.cache
def cpu_bf16_support() -> str | None:
    """The CPU's native bf16 instruction set (``avx512_bf16`` / ``amx_bf16``), or None.

    Read from the ``flags`` of ``/proc/cpuinfo`` (Linux). torch's ``get_cpu_capability()`` names only
    the vector width (``AVX2``, ``AVX512``), not bf16; without native bf16 oneDNN emulates it, which
    measured 9x *slower* than fp32 on an AVX2 CPU (docs/performance.md). Elsewhere (no
    ``/proc/cpuinfo``) it asks oneDNN (``torch.ops.mkldnn._is_mkldnn_bf16_supported``).
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                return next((f for f in CPU_BF16_FLAGS if f in flags), None)
        return None
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    with contextlib.suppress(Exception):
        if probe is not None and probe():
            return "onednn-bf16"
    return None


def resolve_inference_precision(precision: str, device: torch.device | str) -> str:
    """The precision a prediction runs at: ``fp32``, ``bf16`` or ``int8`` (see ``INFERENCE_PRECISIONS``).

    ``auto`` is bf16 on CUDA (where supported) and on CPUs with native bf16 (:func:`cpu_bf16_support`),
    fp32 elsewhere, and says which and why. ``int8`` runs on the CPU only. ``bf16`` on a CPU without
    native bf16 runs (emulated) but warns that it is slower than fp32.
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision={precision!r} is not valid; choose one of: {', '.join(INFERENCE_PRECISIONS)}")
    device = torch.device(device)
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError(f"precision int8 is a CPU inference path; use --device cpu or --precision auto "
                             f"(got device {device})")
        return "int8"
    if device.type == "cuda":
        return resolve_precision(precision, device)
    native = cpu_bf16_support() if device.type == "cpu" else None
    if precision == "auto":
        if native:
            log.info("precision auto: bf16 autocast (this CPU has %s)", native)
            return "bf16"
        log.info("precision auto: fp32 (this CPU reports no native bf16: none of %s in its flags)",
                 "/".join(CPU_BF16_FLAGS))
        return "fp32"
    if precision == "bf16" and device.type == "cpu" and not native:
        log.warning("precision bf16: this CPU has no native bf16 (%s); it is emulated and slower than fp32",
                    "/".join(CPU_BF16_FLAGS))
    return precision


def autocast(device: torch.device | str, precision: str | torch.dtype | None = "fp32"):
    """The forward-pass context: autocast to bf16/fp16 on ``device``, or nothing for fp32.

    ``precision`` is a name (``bf16``, ``fp16``, ``fp32``), a torch dtype, or ``None`` (fp32).
    """
    if isinstance(precision, str):
        if precision not in _DTYPES:
            raise ValueError(f"precision {precision!r} is not valid here; use one of: {', '.join(_DTYPES)}")
        dtype = _DTYPES[precision]
    else:
        dtype = precision
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    if dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"autocast dtype {dtype} is not supported; use torch.bfloat16, torch.float16 or None")
    device_type = device.type if isinstance(device, torch.device) else torch.device(device).type
    return torch.autocast(device_type, dtype=dtype)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside ``torch.compile`` and ``DistributedDataParallel`` wrappers."""
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel

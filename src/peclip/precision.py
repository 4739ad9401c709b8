"""Numeric precision: resolving ``auto`` and the one autocast helper every forward pass uses."""

from __future__ import annotations

import contextlib

import torch

from peclip.config import PRECISIONS

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

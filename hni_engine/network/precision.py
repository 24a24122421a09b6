"""Mixed precision: bf16 autocast for the heavy passes (extraction's Grad-CAM pass, training, distillation)
on CUDA, where it roughly doubles throughput; full precision on the CPU, where bf16 is slower.

``HNI_PRECISION`` overrides the choice: ``auto`` (the default: bf16 on CUDA only), ``bf16`` (on any device,
which is how the CPU tests exercise the path) or ``fp32`` (never). bf16 keeps float32's exponent range, so
no loss scaling is needed; results leave the autocast region as float32.
"""

from __future__ import annotations

import contextlib
import os

import torch

from hni_dsl.errors import HniError

__all__ = ["mixed_precision", "precision"]

CHOICES = ("auto", "bf16", "fp32")


def precision(device: str) -> str:
    """``bf16`` or ``fp32`` for work on ``device``, after ``HNI_PRECISION``."""
    setting = os.environ.get("HNI_PRECISION", "auto").strip().lower() or "auto"
    if setting not in CHOICES:
        raise HniError(f"HNI_PRECISION={setting!r}: expected one of {', '.join(CHOICES)}")
    if setting == "auto":
        return "bf16" if str(device).startswith("cuda") else "fp32"
    return setting


def mixed_precision(device: str) -> contextlib.AbstractContextManager[object]:
    """The autocast region for a forward pass on ``device`` (a no-op in full precision)."""
    if precision(device) == "fp32":
        return contextlib.nullcontext()
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return torch.autocast(device_type=kind, dtype=torch.bfloat16)

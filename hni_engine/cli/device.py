"""Where the engine's commands compute: `--device auto|cpu|cuda`, and how many CPU threads they use."""

from __future__ import annotations

import torch

from hni_dsl.errors import HniError

__all__ = ["limit_threads", "resolve_device"]


def resolve_device(name: str) -> str:
    """`auto` is CUDA when present, else the CPU; `cuda` without a CUDA device is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise HniError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return name


def limit_threads() -> None:
    # Two cores are the reference machine; torch's default may oversubscribe a shared CPU.
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))

"""Giving freed memory back to the operating system while a long stage streams batches.

glibc's malloc keeps the pages of freed buffers for reuse, and the small arrays a stage keeps per image
(logits, centres, gradients) land between them, so the heap can rarely shrink: a stage that makes and frees
a batch's buffers (decoded pixels, activations, segment maps) over thousands of images grows in resident
memory although what it holds does not. Measured on `hni extract`'s per-image pass at 224 px, 1,200 images:
2,192 MB resident after the pass without trimming, 1,074 MB with a trim after every batch; what the pass
holds is 13 MB (BENCHMARKS.md, R1).

`malloc_trim` hands every arena's free pages back. It costs about 16 ms on a 2 GB heap; the pages a batch
needs again are faulted back in, so `release_every` trims every few batches rather than after each.
Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import TypeVar

__all__ = ["TRIM_EVERY", "release_every", "release_free_memory"]

TRIM_EVERY = 8  # batches between trims: at 32 images a batch, a few hundred images' fragmentation at most

T = TypeVar("T")


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> None:
    """Return the allocator's free pages to the operating system (a no-op without glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def release_every(items: Iterable[T], every: int = TRIM_EVERY) -> Iterator[T]:
    """``items`` unchanged, with the free pages released after every ``every``-th item has been used."""
    for count, item in enumerate(items, start=1):
        yield item
        if count % every == 0:
            release_free_memory()

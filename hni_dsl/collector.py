"""Python's cycle collector, paused for the length of one parse, check or command."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a while. Parsing and checking make millions of small objects that all
    live until they end; each collection would walk every one of them again, which took half the time of a
    large script."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

"""Progress bars for long stages (tqdm on stderr; quiet when HNI_QUIET=1 or when asked)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["bar", "set_quiet"]

_quiet = os.environ.get("HNI_QUIET") == "1"


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


@contextmanager
def bar(total: int | None, desc: str, unit: str = "it") -> Iterator[tqdm]:
    """A progress bar; ``update(n)`` it as work completes. Redraws at most twice a second in logs."""
    with tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=_quiet,
        dynamic_ncols=True,
        mininterval=0.5 if sys.stderr.isatty() else 5.0,
        leave=True,
    ) as progress:
        yield progress

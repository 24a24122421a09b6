"""One "did you mean" for every misspelt name the project reports (keywords, classes, codes, layers)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

__all__ = ["backticks", "did_you_mean"]


def backticks(word: str) -> str:
    """The language's own quoting, as in its diagnostics: `word`."""
    return f"`{word}`"


def did_you_mean(
    word: str,
    choices: Iterable[str],
    *,
    n: int = 1,
    cutoff: float = 0.6,
    quote: Callable[[str], str] = backticks,
) -> str:
    """A suffix for an error message naming the (at most ``n``) choices closest to ``word``; "" if none is close.

    ``cutoff`` is difflib's similarity ratio, from 0 to 1: ``cutoff=0`` always names the closest choices.

    >>> did_you_mean("fire_engin", ["ambulance", "fire_engine"])
    '; did you mean `fire_engine`?'
    >>> did_you_mean("layr4", ["layer1", "layer4", "fc"], n=3, quote=repr)
    "; did you mean 'layer4', 'layer1'?"
    >>> did_you_mean("submarine", ["tank", "zebra"])
    ''
    >>> did_you_mean("Fire-Engine", ["fire_engine"], cutoff=0)
    '; did you mean `fire_engine`?'
    """
    # difflib indexes every character of ``word`` first; a choice whose length alone keeps it under the cutoff
    # cannot match, and leaving those out spares a huge word (a hostile script's) that cost entirely.
    candidates = [c for c in choices if 2 * min(len(c), len(word)) >= cutoff * (len(c) + len(word))]
    if not candidates:
        return ""
    close = difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff)
    return f"; did you mean {', '.join(quote(choice) for choice in close)}?" if close else ""

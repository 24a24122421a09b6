"""Text from input files made safe to print: every character a terminal would act on becomes a visible escape.

Scripts, class names, concept labels and file names come from users' files. Printed raw, an ``ESC``
could recolour or clear the terminal, a ``\\r`` could overwrite the line it is on with a forged one, and a
bidirectional override could reorder what a reviewer reads. :func:`escape` writes each such character as
Python would in a string literal (``\\x1b``, ``\\r``, ``\\u202e``); printable text is left as it is, so
escaping twice changes nothing more than escaping once.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ELLIPSIS", "clip", "escape"]

ELLIPSIS: Final = "..."

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# Quick path for the usual case: plain ASCII text has nothing to escape but its control characters.
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(text: str) -> str:
    """``text`` with every non-printable character (controls, format and separator characters) escaped.

    The plain space stays; everything ``str.isprintable`` refuses is written as an escape.

    >>> escape("fire\\x1b[31m engine\\r")
    'fire\\\\x1b[31m engine\\\\r'
    >>> escape("caf\\u00e9 \\u202egnp.exe")
    'café \\\\u202egnp.exe'
    """
    if text.isascii():
        return _ASCII_CONTROL.sub(lambda m: _visible(m.group()), text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _visible(c) for c in text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with an ellipsis.

    >>> clip("abcdefghij", 8)
    'abcde...'
    >>> clip("short", 8)
    'short'
    """
    if len(text) <= limit:
        return text
    return text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS

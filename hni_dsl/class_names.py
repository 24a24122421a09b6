"""What may name a class: the one rule the parser, the library and the checker share."""

from __future__ import annotations

from .escape import clip, escape

__all__ = ["class_name_problem"]


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a class (empty, blank, or holding a character a terminal would act on), or None.

    >>> class_name_problem("toy truck") is None
    True
    >>> class_name_problem("  ")
    'a class name cannot be only spaces'
    """
    if not name:
        return "a class name cannot be empty"
    if not name.strip():
        return "a class name cannot be only spaces"
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        return f'a class name cannot hold the control character {escape(bad)} (in "{escape(clip(name, 60))}")'
    return None

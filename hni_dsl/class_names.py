"""What may name a class: the one rule the parser, the library and the checker share."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .escape import clip, escape

__all__ = ["class_name_problem", "concept_id", "concept_prefix", "prefix_clash"]


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


_UNSAFE_IN_ID = re.compile(r"[\s/]+")


def concept_prefix(name: str) -> str:
    """The class's part of its concept ids (``<prefix>/<key>``) and of its exemplar folder: the name with each
    run of spaces or slashes as one ``_``, so an id stays one readable word whatever the class is called.

    >>> concept_prefix("fire engine"), concept_prefix("jack-o'-lantern"), concept_prefix("café")
    ('fire_engine', "jack-o'-lantern", 'café')
    """
    return _UNSAFE_IN_ID.sub("_", name)


def concept_id(class_name: str, key: str) -> str:
    """A concept's id: ``<prefix>/<key>`` (see concept_prefix)."""
    return f"{concept_prefix(class_name)}/{key}"


def prefix_clash(names: Iterable[str]) -> str | None:
    """Why ``names`` cannot all be classes of one library (two would share concept ids), or None.

    >>> prefix_clash(["fire engine", "fire_engine", "bus"])
    "classes 'fire engine' and 'fire_engine' would share concept ids (fire_engine/...); rename one"
    """
    seen: dict[str, str] = {}
    for name in names:
        prefix = concept_prefix(name)
        if prefix in seen and seen[prefix] != name:
            return f"classes {seen[prefix]!r} and {name!r} would share concept ids ({prefix}/...); rename one"
        seen.setdefault(prefix, name)
    return None

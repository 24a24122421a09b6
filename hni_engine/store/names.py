"""People's names for concepts: `names.txt` at the workspace root, one line per name, kept in git.

```
# concept names (`hni name`): a concept id, then its name as a JSON string
ambulance/3d0099 "red cross"
fire_engine/0a1b2c "ladder"
```

A name is a label for people only: `show`, `explain`, `plan` and the report print it beside the id, and
scripts still bind to ids (`hni check` never reads this file), so renaming changes no meaning. Lines are
kept sorted by id, so two people naming different concepts merge without conflict. The file lives outside
`concepts/`, which a re-extraction replaces: names of concepts that are still there survive it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hni_dsl.errors import HniError
from hni_dsl.escape import clip, escape
from hni_dsl.fileio import atomic_write_text, read_text
from hni_dsl.library import Library

__all__ = ["MAX_NAME", "NAMES_FILE", "NamesError", "load_names", "name_problem", "with_names", "write_names"]

NAMES_FILE = "names.txt"
MAX_NAME = 64
_LINE = re.compile(r'^(?P<id>[^\s/"]+(?:/[^\s/"]+)+)\s+(?P<name>".*")\s*$')
_HEADER = "# concept names (`hni name`): a concept id, then its name as a JSON string\n"


class NamesError(HniError):
    """names.txt cannot be read, or a name is not allowed."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a concept, or None."""
    if not name.strip():
        return "a name cannot be empty or only spaces"
    if len(name) > MAX_NAME:
        return f"a name is at most {MAX_NAME} characters (got {len(name)})"
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        return f"a name cannot hold the control character {escape(bad)}"
    return None


def load_names(root: Path) -> dict[str, str]:
    """The workspace's names by concept id ({} when there is no names.txt)."""
    path = root / NAMES_FILE
    if not path.exists():
        return {}
    names: dict[str, str] = {}
    for number, line in enumerate(read_text(path, "names file").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{escape(str(path))}:{number}"
        match = _LINE.match(line.strip())
        if match is None:
            raise NamesError(f'{where}: expected `CLASS/KEY "name"`, got {escape(clip(line, 60))!r}')
        try:
            name = json.loads(match["name"])
        except json.JSONDecodeError as exc:
            raise NamesError(f"{where}: the name is not a valid JSON string ({exc.msg})") from None
        if not isinstance(name, str) or (problem := name_problem(name)) is not None:
            raise NamesError(f"{where}: {problem if isinstance(name, str) else 'the name must be a string'}")
        if match["id"] in names:
            raise NamesError(f"{where}: {match['id']} is named twice")
        names[match["id"]] = name
    return names


def write_names(root: Path, names: dict[str, str]) -> None:
    """names.txt, sorted by id, written atomically (an interrupted write leaves the old file)."""
    body = "".join(f"{cid} {json.dumps(names[cid], ensure_ascii=False)}\n" for cid in sorted(names))
    atomic_write_text(root / NAMES_FILE, _HEADER + body)


def with_names(library: Library, names: dict[str, str]) -> Library:
    """The library with each named concept's ``label`` set (ids, order and everything else unchanged)."""
    return library.with_labels(names)

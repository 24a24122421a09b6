"""The symbolic concept library (``library.json``, format ``hni-library/1``).

The library is what the language talks about: per class, its ranked concept *pool*, its c-SCG
(``graph.nodes[i]`` is slot i+1; edges join 1-based slots) and the concepts it is ``forbidden``. Models are
frozen: every operation returns a new library and never changes its input. Loading a malformed file raises
:class:`LibraryError` naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import LibraryError
from .escape import clip
from .fileio import atomic_write_text
from .library_pool import Confusion, ErrorAnalysis, PoolConcept, optional_number
from .library_pool import LibraryModel as _Model

__all__ = [
    "FORMAT",
    "AppliedScript",
    "ClassEntry",
    "Confusion",
    "Defined",
    "ErrorAnalysis",
    "Graph",
    "GraphEdge",
    "Library",
    "PoolConcept",
    "dump_library",
    "library_schema",
    "library_sha256",
    "load_library",
    "parse_library",
    "write_library",
]

FORMAT: Final = "hni-library/1"
_META_DEPTH: Final = 32  # provenance is shallow; the JSON writer stops far deeper than this


class GraphEdge(_Model):
    src: int = Field(ge=1, strict=True, description="source slot (1-based)")
    dst: int = Field(ge=1, strict=True, description="destination slot (1-based)")
    weight: float | None = Field(
        default=None, strict=True, allow_inf_nan=False, description="learnt class-specific edge weight e_ji, if any"
    )
    drop: float | None = optional_number(
        "drop of the class's GRN score on held-out images of the class when the edge is removed"
    )
    turned_drop: float | None = optional_number(
        "the same drop on a turned copy of each of those images (rotated by a random angle, then mirrored left "
        "to right): an edge whose drop changes there reads the images' layout or pose"
    )


class Graph(_Model):
    """A class's c-SCG: concept ids in slot order and directed edges between slots."""

    nodes: tuple[str, ...]
    edges: tuple[GraphEdge, ...] = ()

    @field_validator("edges")
    @classmethod
    def _canonical_order(cls, edges: tuple[GraphEdge, ...]) -> tuple[GraphEdge, ...]:
        # One order for equal graphs, so equality, hashes and diffs do not depend on how a file listed them.
        return tuple(sorted(edges, key=lambda e: (e.src, e.dst)))

    @model_validator(mode="after")
    def _consistent(self) -> Graph:
        seen: dict[str, int] = {}
        for i, node in enumerate(self.nodes, start=1):
            if node in seen:
                raise ValueError(f"concept {node!r} appears twice (slots {seen[node]} and {i})")
            seen[node] = i
        pairs = set()
        for edge in self.edges:
            for end in (edge.src, edge.dst):
                if end > len(self.nodes):
                    raise ValueError(
                        f"edge {edge.src}->{edge.dst} names slot {end}, but the graph has {len(self.nodes)} nodes"
                    )
            if edge.src == edge.dst:
                raise ValueError(f"edge {edge.src}->{edge.dst} joins a slot to itself")
            if (edge.src, edge.dst) in pairs:
                raise ValueError(f"edge {edge.src}->{edge.dst} is listed twice")
            pairs.add((edge.src, edge.dst))
        return self

    def edge_pairs(self) -> list[tuple[int, int]]:
        return [(e.src, e.dst) for e in self.edges]


class Defined(_Model):
    """How a zero-shot class was defined (`define class X from ..., edges like D`)."""

    parts: tuple[str, ...]
    edges_like: str


class AppliedScript(_Model):
    """A script whose changes this library already contains (so applying it again is a no-op)."""

    script: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ClassEntry(_Model):
    name: str = Field(min_length=1)
    output_index: int | None = Field(
        ge=0, strict=True, description="the network's output unit; null for a class it lacks"
    )
    pool: tuple[PoolConcept, ...] = ()
    graph: Graph
    defined: Defined | None = None
    # Written only when non-empty, so libraries without `forbid` keep their exact text and sha256.
    forbidden: tuple[str, ...] = Field(
        default=(),
        exclude_if=lambda v: not v,
        json_schema_extra={"uniqueItems": True},
        description="concept ids the class must not rely on at all (`forbid`), in the order they were forbidden",
    )

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        # The same rule as a quoted class name in a script: a script could not name it otherwise.
        if not name.strip():
            raise ValueError("a class name cannot be only spaces")
        if not name.isprintable():
            raise ValueError("a class name cannot hold control characters")
        return name

    @field_validator("pool")
    @classmethod
    def _unique_pool(cls, pool: tuple[PoolConcept, ...]) -> tuple[PoolConcept, ...]:
        ids = [c.id for c in pool]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"pool lists concept {dupes[0]!r} more than once")
        return pool

    @model_validator(mode="after")
    def _forbidden_not_in_graph(self) -> ClassEntry:
        seen: set[str] = set()
        for concept in self.forbidden:
            if concept in seen:
                raise ValueError(f"class {self.name!r}: forbidden lists concept {concept!r} more than once")
            seen.add(concept)
            if concept in self.graph.nodes:
                slot = self.graph.nodes.index(concept) + 1
                raise ValueError(
                    f"class {self.name!r}: concept {concept!r} is forbidden, but its c-SCG holds it at slot {slot}"
                )
        return self

    def pool_rank(self, concept_id: str) -> int | None:
        """1-based rank of a concept in this class's pool, or None."""
        for i, concept in enumerate(self.pool, start=1):
            if concept.id == concept_id:
                return i
        return None


class Library(_Model):
    format: Literal["hni-library/1"] = FORMAT
    classes: tuple[ClassEntry, ...]
    applied: tuple[AppliedScript, ...] = ()
    meta: dict[str, Any] = Field(default_factory=dict, description="free-form provenance (model, config, ...)")

    _by_name: dict[str, ClassEntry] = PrivateAttr(default_factory=dict)

    @field_validator("meta")
    @classmethod
    def _finite_meta(cls, meta: dict[str, Any]) -> dict[str, Any]:
        # JSON has no NaN or Infinity: written out they would come back as null, and the sha256 would lie.
        # Deep nesting is refused too: the file could be read but never written back.
        stack: list[tuple[str, Any, int]] = [("meta", meta, 0)]
        while stack:
            where, value, depth = stack.pop()
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{where} is not a finite number (got {value!r})")
            if depth > _META_DEPTH:
                raise ValueError(f"meta is nested more than {_META_DEPTH} levels deep")
            if isinstance(value, dict):
                stack.extend((f"{where}.{key}", item, depth + 1) for key, item in value.items())
            elif isinstance(value, (list, tuple)):
                stack.extend((f"{where}[{i}]", item, depth + 1) for i, item in enumerate(value))
        return meta

    _concepts: dict[str, PoolConcept] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Library:
        names: set[str] = set()
        outputs: dict[int, str] = {}
        for entry in self.classes:
            if entry.name in names:
                raise ValueError(f"class {entry.name!r} is listed twice")
            names.add(entry.name)
            if entry.output_index is not None:
                if entry.output_index in outputs:
                    raise ValueError(
                        f"classes {outputs[entry.output_index]!r} and {entry.name!r} share output_index "
                        f"{entry.output_index}"
                    )
                outputs[entry.output_index] = entry.name
        known = {c.id for entry in self.classes for c in entry.pool}
        for entry in self.classes:
            for slot, node in enumerate(entry.graph.nodes, start=1):
                if node not in known:
                    raise ValueError(f"class {entry.name!r}: slot {slot} holds {node!r}, which is in no class's pool")
            for concept in entry.forbidden:
                if concept not in known:
                    raise ValueError(f"class {entry.name!r}: forbidden concept {concept!r} is in no class's pool")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._by_name = {entry.name: entry for entry in self.classes}
        self._concepts = {c.id: c for entry in self.classes for c in entry.pool}

    def get(self, name: str) -> ClassEntry | None:
        return self._by_name.get(name)

    def concept(self, concept_id: str) -> PoolConcept | None:
        return self._concepts.get(concept_id)

    @property
    def class_names(self) -> list[str]:
        return [entry.name for entry in self.classes]

    def with_class(self, entry: ClassEntry) -> Library:
        """A new library with ``entry`` replacing the class of the same name (or appended)."""
        previous = self._by_name.get(entry.name)
        if previous is not None:
            classes = tuple(entry if c.name == entry.name else c for c in self.classes)
        else:
            classes = self.classes + (entry,)
        copy = self.model_copy(update={"classes": classes})
        # Update the lookup tables instead of rebuilding them: edits change one class at a time.
        copy._by_name = {**self._by_name, entry.name: entry}
        if previous is not None and previous.pool == entry.pool:
            copy._concepts = self._concepts
        else:
            copy._concepts = {**self._concepts, **{c.id: c for c in entry.pool}}
        return copy

    def with_labels(self, labels: Mapping[str, str]) -> Library:
        """The library with each concept named in ``labels`` (id -> label) labelled so: for people only,
        ids and everything else unchanged."""
        library = self
        for entry in self.classes:
            if any(c.id in labels for c in entry.pool):
                pool = tuple(c.model_copy(update={"label": labels[c.id]}) if c.id in labels else c for c in entry.pool)
                library = library.with_class(entry.model_copy(update={"pool": pool}))
        return library

    def with_applied(self, scripts: tuple[AppliedScript, ...]) -> Library:
        copy = self.model_copy(update={"applied": self.applied + scripts})
        copy._by_name, copy._concepts = self._by_name, self._concepts
        return copy


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """`classes[3] (fire_engine).graph.edges[0].src` from a pydantic error location."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("name"), str) and parts[-1].startswith("classes["):
                    parts[-1] += f" ({clip(node['name'], 60)})"
            else:
                node = None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def parse_library(text: str, path: str = "<library>") -> Library:
    """Validate library JSON text. Raises :class:`LibraryError` naming ``path`` and the bad field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LibraryError(path, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise LibraryError(path, "not a library: its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise LibraryError(path, f"not valid JSON: {str(exc).split(';')[0]}") from None
    if not isinstance(data, dict):
        raise LibraryError(path, f"the top level must be a JSON object (got {type(data).__name__})")
    fmt = data.get("format")
    if fmt is None:
        raise LibraryError(path, f'missing; a library file starts with "format": "{FORMAT}"', field="format")
    if fmt != FORMAT:
        raise LibraryError(path, f"unsupported format {fmt!r}; this version of hni reads {FORMAT!r}", field="format")
    try:
        return Library.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = _field_path(tuple(first["loc"]), data) or None
        message = first["msg"].removeprefix("Value error, ")
        if "input" in first and first["type"] not in ("missing",) and not isinstance(first["input"], (dict, list)):
            message += f" (got {first['input']!r})"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise LibraryError(path, message, field=field) from None


def load_library(path: str | os.PathLike[str]) -> Library:
    """Read and validate a ``library.json``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LibraryError(str(path), "no such file") from None
    except IsADirectoryError:
        raise LibraryError(str(path), "is a directory, not a library file") from None
    except UnicodeDecodeError:
        raise LibraryError(str(path), "not UTF-8 text") from None
    except OSError as exc:
        raise LibraryError(str(path), f"cannot be read: {exc.strerror}") from None
    return parse_library(text, str(path))


# Lists whose items are each written on one line: a one-concept (one-edge, one-script) change is then a
# one-line diff in git.
_ONE_PER_LINE = frozenset({"pool", "edges", "applied"})


def _json_text(value: Any, level: int = 0, key: str | None = None) -> str:
    """``value`` as JSON: objects and lists of objects indented two spaces a level, lists of plain values
    and the items of _ONE_PER_LINE lists on one line each."""
    one_line = partial(json.dumps, ensure_ascii=False, separators=(", ", ": "))
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(value, dict) and value:
        fields = [f"{inner}{one_line(k)}: {_json_text(v, level + 1, k)}" for k, v in value.items()]
        return "{\n" + ",\n".join(fields) + f"\n{pad}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [inner + (one_line(v) if key in _ONE_PER_LINE else _json_text(v, level + 1)) for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return one_line(value)


def dump_library(library: Library) -> str:
    """Canonical JSON text: field order of the format, one pool concept, edge or applied script per line,
    trailing newline. Diffs of an edited library stay as small as the edit."""
    return _json_text(library.model_dump(mode="json")) + "\n"


def library_sha256(library: Library) -> str:
    """Identity of a library's content: sha256 of its canonical text (re-indenting a file keeps it)."""
    return hashlib.sha256(dump_library(library).encode("utf-8")).hexdigest()


def write_library(library: Library, path: str | os.PathLike[str]) -> None:
    """Write atomically (temp file + rename), so a crash never leaves half a library."""
    atomic_write_text(path, dump_library(library))


def library_schema() -> dict[str, Any]:
    """The JSON Schema of ``hni-library/1`` (published as ``hni_dsl/schema/hni-library-1.schema.json``)."""
    schema = Library.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "hni-library-1.schema.json"
    schema["title"] = "hni concept library (hni-library/1)"
    return schema

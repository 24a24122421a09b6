"""Typed transforms of the symbolic library, and their pure application.

A checked script compiles to a flat tuple of transforms. Each carries the number of the ``class`` block
it came from: the transforms of one block refer to the slot numbering *before* the block and are applied
together, then the slots are compacted (DSL contract). Transforms also carry the concept ids they
expect to find, so applying one to a library that has changed since the plan was made fails loudly
instead of editing the wrong concept.
"""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from .errors import HniError
from .library import ClassEntry, Defined, Graph, GraphEdge, Library

__all__ = [
    "ReplaceConcept", "AddConcept", "DropConcept", "AddEdge", "DropEdge", "DropAllEdges", "ForbidConcept",
    "DefineClass", "Transform", "TransformError", "apply_transforms", "apply_block",
]


class TransformError(HniError):
    """A transform does not fit the library it is applied to (the library changed since planning)."""


class _Transform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    block: int = Field(ge=0, description="index of the script block this transform belongs to")
    cls: str = Field(description="the class whose c-SCG changes")


class ReplaceConcept(_Transform):
    kind: Literal["replace_concept"] = "replace_concept"
    slot: int = Field(ge=1)
    old: str
    new: str
    old_origin: str = Field(description="how the old concept is known, e.g. 'pool[2]'")
    new_origin: str = Field(description="the reference that named the new concept, e.g. 'pool[7]'")


class AddConcept(_Transform):
    kind: Literal["add_concept"] = "add_concept"
    concept: str
    origin: str


class DropConcept(_Transform):
    kind: Literal["drop_concept"] = "drop_concept"
    slot: int = Field(ge=1)
    concept: str
    origin: str


class AddEdge(_Transform):
    kind: Literal["add_edge"] = "add_edge"
    src: int = Field(ge=1)
    dst: int = Field(ge=1)


class DropEdge(_Transform):
    kind: Literal["drop_edge"] = "drop_edge"
    src: int = Field(ge=1)
    dst: int = Field(ge=1)


class DropAllEdges(_Transform):
    kind: Literal["drop_all_edges"] = "drop_all_edges"
    edges: tuple[tuple[int, int], ...] = Field(description="the edges it removes, as (src, dst) slots")


class ForbidConcept(_Transform):
    """The class must not rely on ``concept`` at all: recorded in its ``forbidden``, and its slot (if any) dropped."""

    kind: Literal["forbid_concept"] = "forbid_concept"
    concept: str
    origin: str = Field(description="how the concept is known, e.g. 'pool[5]' or 'school_bus.pool[2]'")
    slot: Optional[int] = Field(ge=1, description="the slot it removes (with its edges); null if not in the c-SCG")


class DefineClass(_Transform):
    kind: Literal["define_class"] = "define_class"
    parts: tuple[str, ...]
    part_origins: tuple[str, ...]
    edges_like: str
    edges: tuple[tuple[int, int], ...]


Transform = Annotated[
    Union[ReplaceConcept, AddConcept, DropConcept, AddEdge, DropEdge, DropAllEdges, ForbidConcept, DefineClass],
    Field(discriminator="kind"),
]


def _fail(t: _Transform, message: str) -> TransformError:
    return TransformError(f"cannot apply {t.kind} to class {t.cls!r} (block {t.block}): {message}")


def apply_block(entry: ClassEntry, transforms: list[_Transform]) -> ClassEntry:
    """Apply one block's transforms to one class, together, then compact the slots."""
    nodes = list(entry.graph.nodes)
    weights: dict[tuple[int, int], Optional[float]] = {(e.src, e.dst): e.weight for e in entry.graph.edges}
    added: list[str] = []
    dropped: set[int] = set()
    forbidden = list(entry.forbidden)
    new_edges: list[tuple[int, int]] = []

    def expect_slot(t: _Transform, slot: int, concept: str) -> None:
        if not 1 <= slot <= len(nodes):
            raise _fail(t, f"slot {slot} does not exist ({entry.name} has {len(nodes)} slots)")
        if entry.graph.nodes[slot - 1] != concept:
            raise _fail(t, f"slot {slot} holds {entry.graph.nodes[slot - 1]!r}, expected {concept!r}")

    for t in transforms:
        if isinstance(t, ReplaceConcept):
            expect_slot(t, t.slot, t.old)
            nodes[t.slot - 1] = t.new
        elif isinstance(t, DropConcept):
            expect_slot(t, t.slot, t.concept)
            dropped.add(t.slot)
        elif isinstance(t, AddConcept):
            added.append(t.concept)
        elif isinstance(t, ForbidConcept):
            if t.concept in forbidden:
                raise _fail(t, f"{t.concept!r} is already forbidden")
            if t.slot is not None:
                expect_slot(t, t.slot, t.concept)
                dropped.add(t.slot)
            elif t.concept in entry.graph.nodes:
                raise _fail(t, f"{t.concept!r} is at slot {entry.graph.nodes.index(t.concept) + 1}, expected it "
                               f"in no slot")
            forbidden.append(t.concept)
        elif isinstance(t, DropAllEdges):
            if set(t.edges) != set(weights):
                raise _fail(t, f"expected edges {sorted(t.edges)}, found {sorted(weights)}")
            weights.clear()
        elif isinstance(t, DropEdge):
            if (t.src, t.dst) not in weights:
                raise _fail(t, f"edge {t.src}->{t.dst} does not exist")
            del weights[(t.src, t.dst)]
        elif isinstance(t, AddEdge):
            new_edges.append((t.src, t.dst))
        else:
            raise _fail(t, "not a class-block transform")
    for src, dst in new_edges:
        if (src, dst) in weights:
            raise TransformError(f"cannot add edge {src}->{dst} to class {entry.name!r}: it already exists")
        if not (1 <= src <= len(nodes) and 1 <= dst <= len(nodes)):
            raise TransformError(f"cannot add edge {src}->{dst} to class {entry.name!r}: no such slot")
        weights[(src, dst)] = None

    # Compact: surviving slots keep their order; added concepts follow.
    renumber: dict[int, int] = {}
    kept: list[str] = []
    for old_slot, concept in enumerate(nodes, start=1):
        if old_slot not in dropped:
            kept.append(concept)
            renumber[old_slot] = len(kept)
    kept.extend(added)
    back = [concept for concept in kept if concept in forbidden]
    if back:
        raise TransformError(f"class {entry.name!r}: the edited graph holds {back[0]!r}, which is forbidden for it")
    edges = tuple(
        GraphEdge(src=renumber[src], dst=renumber[dst], weight=weight)
        for (src, dst), weight in sorted(weights.items())
        if src in renumber and dst in renumber
    )
    try:
        graph = Graph(nodes=tuple(kept), edges=edges)
    except ValueError as exc:
        raise TransformError(f"class {entry.name!r}: the edited graph is invalid: {exc}") from None
    return entry.model_copy(update={"graph": graph, "forbidden": tuple(forbidden)})


def _define(library: Library, t: DefineClass) -> Library:
    if library.get(t.cls) is not None:
        raise _fail(t, "the class already exists")
    for concept in t.parts:
        if library.concept(concept) is None:
            raise _fail(t, f"concept {concept!r} is in no class's pool")
    edges = tuple(GraphEdge(src=s, dst=d, weight=None) for s, d in t.edges)
    try:
        entry = ClassEntry(
            name=t.cls, output_index=None, pool=(),
            graph=Graph(nodes=t.parts, edges=edges),
            defined=Defined(parts=t.parts, edges_like=t.edges_like),
        )
    except ValueError as exc:
        raise _fail(t, str(exc)) from None
    return library.with_class(entry)


def apply_transforms(library: Library, transforms: tuple[_Transform, ...] | list[_Transform]) -> Library:
    """Apply transforms in order and return a new library; ``library`` itself is never changed.

    Raises :class:`TransformError` if a transform does not fit (wrong concept in a slot, missing edge...).
    """
    current = library
    for (block, cls), group in groupby(transforms, key=lambda t: (t.block, t.cls)):
        items = list(group)
        if isinstance(items[0], DefineClass):
            for t in items:
                current = _define(current, t)
            continue
        entry = current.get(cls)
        if entry is None:
            raise _fail(items[0], "no such class in the library")
        for t in items:
            if isinstance(t, ForbidConcept) and current.concept(t.concept) is None:
                raise _fail(t, f"concept {t.concept!r} is in no class's pool")
        current = current.with_class(apply_block(entry, items))
    return current

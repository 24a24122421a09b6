"""Typed transforms of the symbolic library, and their pure application.

A checked script compiles to a flat tuple of transforms. Each carries the number of the ``class`` block
it came from: the transforms of one block refer to the slot numbering *before* the block and are applied
together, then the slots are compacted (DSL contract). Transforms also carry the concept ids they
expect to find, so applying one to a library that has changed since the plan was made fails loudly
instead of editing the wrong concept.

Each kind of transform is declared once, as one class: its fields, what it does to a class's graph
(``apply``) and how it reads in a plan (``show``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import HniError
from .formatter import format_class_name
from .library import ClassEntry, Defined, Graph, GraphEdge, Library

__all__ = [
    "AddConcept",
    "AddEdge",
    "BlockGraph",
    "BlockPlan",
    "DefineClass",
    "DropAllEdges",
    "DropConcept",
    "DropEdge",
    "ForbidConcept",
    "ReplaceConcept",
    "Transform",
    "TransformError",
    "apply_block",
    "apply_transforms",
]


class TransformError(HniError):
    """A transform does not fit the library it is applied to (the library changed since planning)."""


@dataclass
class BlockGraph:
    """One class's graph while a block's transforms are applied together, in slot numbers before the block."""

    entry: ClassEntry
    nodes: list[str]
    weights: dict[tuple[int, int], float | None]
    forbidden: list[str]
    added: list[str] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)
    new_edges: list[tuple[int, int]] = field(default_factory=list)

    def expect_slot(self, t: _Transform, slot: int, concept: str) -> None:
        if not 1 <= slot <= len(self.nodes):
            raise _fail(t, f"slot {slot} does not exist ({self.entry.name} has {len(self.nodes)} slots)")
        if self.entry.graph.nodes[slot - 1] != concept:
            raise _fail(t, f"slot {slot} holds {self.entry.graph.nodes[slot - 1]!r}, expected {concept!r}")


def _edges(n: int) -> str:
    return f"{n} edge" if n == 1 else f"{n} edges"


@dataclass
class BlockPlan:
    """What a plan says about one block: its transforms' ``show`` write the lines and counts (see plan.py)."""

    library: Library  # as the blocks before this one left it
    entry: ClassEntry | None  # the class before the block; None for a class the block creates
    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    edges_dropped: set[tuple[int, int]] = field(default_factory=set)  # a set: a redundant drop counts once
    renumbered: bool = False
    last_slot: int = 0  # the highest slot so far; `add concept` appends after it

    def __post_init__(self) -> None:
        self.last_slot = len(self.entry.graph.nodes) if self.entry is not None else 0

    def line(self, text: str) -> None:
        self.lines.append("    " + text)

    def describe(self, concept: str, origin: str) -> str:
        known = self.library.concept(concept)
        label = known.label if known is not None else None
        return f"{concept}{f' {json.dumps(label)}' if label else ''} ({origin})"

    def weight(self, pair: tuple[int, int]) -> str:
        for edge in self.entry.graph.edges if self.entry is not None else ():
            if (edge.src, edge.dst) == pair and edge.weight is not None:
                return f" (weight {edge.weight:.3g})"
        return ""

    def drop_edges_of(self, slot: int) -> int:
        """The slot's edges go with it: counted as dropped, and their number returned."""
        touching = [p for p in self.entry.graph.edge_pairs() if slot in p] if self.entry is not None else []
        self.edges_dropped.update(touching)
        return len(touching)


class _Transform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    block: int = Field(ge=0, description="index of the script block this transform belongs to")
    cls: str = Field(description="the class whose c-SCG changes")

    creates_class: ClassVar[bool] = False  # a block of its own that makes a new class (`create`, not `apply`)
    # What the edit changes, which decides how the engine distils it (HNI B.4 temperatures): a class's
    # concepts ("nodes"), its relations only ("edges"), or a new class ("classes", zero-shot).
    changes: ClassVar[Literal["nodes", "edges", "classes"]]
    if TYPE_CHECKING:
        kind: str  # every kind declares its own literal tag

    def validate_against(self, library: Library) -> None:
        """Raise :class:`TransformError` if the library lacks what the transform names (before its block runs)."""

    def apply(self, g: BlockGraph) -> None:
        raise _fail(self, "not a class-block transform")

    def create(self, library: Library) -> Library:
        raise _fail(self, "not a class-creating transform")

    def show(self, p: BlockPlan) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no plan text")


class ReplaceConcept(_Transform):
    kind: Literal["replace_concept"] = "replace_concept"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "nodes"
    slot: int = Field(ge=1)
    old: str
    new: str
    old_origin: str = Field(description="how the old concept is known, e.g. 'pool[2]'")
    new_origin: str = Field(description="the reference that named the new concept, e.g. 'pool[7]'")

    def apply(self, g: BlockGraph) -> None:
        g.expect_slot(self, self.slot, self.old)
        g.nodes[self.slot - 1] = self.new

    def show(self, p: BlockPlan) -> None:
        p.counts["concepts_replaced"] += 1
        old, new = p.describe(self.old, self.old_origin), p.describe(self.new, self.new_origin)
        p.line(f"concept {self.slot}: {old} -> {new}")


class AddConcept(_Transform):
    kind: Literal["add_concept"] = "add_concept"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "nodes"
    concept: str
    origin: str

    def apply(self, g: BlockGraph) -> None:
        g.added.append(self.concept)

    def show(self, p: BlockPlan) -> None:
        p.counts["concepts_added"] += 1
        p.last_slot += 1
        p.renumbered = True
        p.line(f"+ concept {p.last_slot}: {p.describe(self.concept, self.origin)}")


class DropConcept(_Transform):
    kind: Literal["drop_concept"] = "drop_concept"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "nodes"
    slot: int = Field(ge=1)
    concept: str
    origin: str

    def apply(self, g: BlockGraph) -> None:
        g.expect_slot(self, self.slot, self.concept)
        g.dropped.add(self.slot)

    def show(self, p: BlockPlan) -> None:
        p.counts["concepts_dropped"] += 1
        p.renumbered = True
        n = p.drop_edges_of(self.slot)
        suffix = f" and its {_edges(n)}" if n else ""
        p.line(f"- concept {self.slot}: {p.describe(self.concept, self.origin)}{suffix}")


class AddEdge(_Transform):
    kind: Literal["add_edge"] = "add_edge"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "edges"
    src: int = Field(ge=1)
    dst: int = Field(ge=1)

    def apply(self, g: BlockGraph) -> None:
        g.new_edges.append((self.src, self.dst))  # checked once the block's slots are known

    def show(self, p: BlockPlan) -> None:
        p.counts["edges_added"] += 1
        p.line(f"+ edge {self.src}->{self.dst}")


class DropEdge(_Transform):
    kind: Literal["drop_edge"] = "drop_edge"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "edges"
    src: int = Field(ge=1)
    dst: int = Field(ge=1)

    def apply(self, g: BlockGraph) -> None:
        if (self.src, self.dst) not in g.weights:
            raise _fail(self, f"edge {self.src}->{self.dst} does not exist")
        del g.weights[(self.src, self.dst)]

    def show(self, p: BlockPlan) -> None:
        p.edges_dropped.add((self.src, self.dst))
        p.line(f"- edge {self.src}->{self.dst}{p.weight((self.src, self.dst))}")


class DropAllEdges(_Transform):
    kind: Literal["drop_all_edges"] = "drop_all_edges"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "edges"
    edges: tuple[tuple[int, int], ...] = Field(description="the edges it removes, as (src, dst) slots")

    def apply(self, g: BlockGraph) -> None:
        if set(self.edges) != set(g.weights):
            raise _fail(self, f"expected edges {sorted(self.edges)}, found {sorted(g.weights)}")
        g.weights.clear()

    def show(self, p: BlockPlan) -> None:
        p.edges_dropped.update(self.edges)
        listed = ", ".join(f"{s}->{d}" for s, d in self.edges)
        p.line(f"- edges *: {listed} ({_edges(len(self.edges))})")


class ForbidConcept(_Transform):
    """The class must not rely on ``concept`` at all: recorded in its ``forbidden``, and its slot (if any) dropped."""

    kind: Literal["forbid_concept"] = "forbid_concept"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "nodes"
    concept: str
    origin: str = Field(description="how the concept is known, e.g. 'pool[5]' or 'school_bus.pool[2]'")
    slot: int | None = Field(ge=1, description="the slot it removes (with its edges); null if not in the c-SCG")

    def validate_against(self, library: Library) -> None:
        if library.concept(self.concept) is None:
            raise _fail(self, f"concept {self.concept!r} is in no class's pool")

    def apply(self, g: BlockGraph) -> None:
        if self.concept in g.forbidden:
            raise _fail(self, f"{self.concept!r} is already forbidden")
        if self.slot is not None:
            g.expect_slot(self, self.slot, self.concept)
            g.dropped.add(self.slot)
        elif self.concept in g.entry.graph.nodes:
            slot = g.entry.graph.nodes.index(self.concept) + 1
            raise _fail(self, f"{self.concept!r} is at slot {slot}, expected it in no slot")
        g.forbidden.append(self.concept)

    def show(self, p: BlockPlan) -> None:
        p.counts["concepts_forbidden"] += 1
        if self.slot is None:
            p.line(f"! forbid {p.describe(self.concept, self.origin)}: not in the c-SCG")
            return
        p.renumbered = True
        n = p.drop_edges_of(self.slot)
        suffix = f" with its {_edges(n)}" if n else ""
        p.line(f"! forbid concept {self.slot}: {p.describe(self.concept, self.origin)}, dropped{suffix}")


class DefineClass(_Transform):
    kind: Literal["define_class"] = "define_class"
    changes: ClassVar[Literal["nodes", "edges", "classes"]] = "classes"
    parts: tuple[str, ...]
    part_origins: tuple[str, ...]
    edges_like: str
    edges: tuple[tuple[int, int], ...]

    creates_class: ClassVar[bool] = True

    def create(self, library: Library) -> Library:
        if library.get(self.cls) is not None:
            raise _fail(self, "the class already exists")
        for concept in self.parts:
            if library.concept(concept) is None:
                raise _fail(self, f"concept {concept!r} is in no class's pool")
        edges = tuple(GraphEdge(src=s, dst=d, weight=None) for s, d in self.edges)
        try:
            entry = ClassEntry(
                name=self.cls,
                output_index=None,
                pool=(),
                graph=Graph(nodes=self.parts, edges=edges),
                defined=Defined(parts=self.parts, edges_like=self.edges_like),
            )
        except ValueError as exc:
            raise _fail(self, str(exc)) from None
        return library.with_class(entry)

    def show(self, p: BlockPlan) -> None:
        for slot, (concept, origin) in enumerate(zip(self.parts, self.part_origins), start=1):
            p.line(f"concept {slot}: {p.describe(concept, origin)}")
        edges = ", ".join(f"{s}->{d}" for s, d in self.edges) or "none"
        p.line(f"edges like {format_class_name(self.edges_like)}: {edges}")
        p.counts["edges_added"] += len(self.edges)


Transform = Annotated[
    ReplaceConcept | AddConcept | DropConcept | AddEdge | DropEdge | DropAllEdges | ForbidConcept | DefineClass,
    Field(discriminator="kind"),
]


def _fail(t: _Transform, message: str) -> TransformError:
    return TransformError(f"cannot apply {t.kind} to class {t.cls!r} (block {t.block}): {message}")


def apply_block(entry: ClassEntry, transforms: Sequence[_Transform]) -> ClassEntry:
    """Apply one block's transforms to one class, together, then compact the slots."""
    g = BlockGraph(
        entry=entry,
        nodes=list(entry.graph.nodes),
        weights={(e.src, e.dst): e.weight for e in entry.graph.edges},
        forbidden=list(entry.forbidden),
    )
    for t in transforms:
        t.apply(g)
    nodes, weights, forbidden = g.nodes, g.weights, g.forbidden
    for src, dst in g.new_edges:
        if (src, dst) in weights:
            raise TransformError(f"cannot add edge {src}->{dst} to class {entry.name!r}: it already exists")
        if not (1 <= src <= len(nodes) and 1 <= dst <= len(nodes)):
            raise TransformError(f"cannot add edge {src}->{dst} to class {entry.name!r}: no such slot")
        weights[(src, dst)] = None

    # Compact: surviving slots keep their order; added concepts follow.
    renumber: dict[int, int] = {}
    kept: list[str] = []
    for old_slot, concept in enumerate(nodes, start=1):
        if old_slot not in g.dropped:
            kept.append(concept)
            renumber[old_slot] = len(kept)
    kept.extend(g.added)
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


def apply_transforms(library: Library, transforms: Sequence[_Transform]) -> Library:
    """Apply transforms in order and return a new library; ``library`` itself is never changed.

    Raises :class:`TransformError` if a transform does not fit (wrong concept in a slot, missing edge...).
    """
    current = library
    for (_block, cls), group in groupby(transforms, key=lambda t: (t.block, t.cls)):
        items = list(group)
        if items[0].creates_class:
            for t in items:
                current = t.create(current)
            continue
        entry = current.get(cls)
        if entry is None:
            raise _fail(items[0], "no such class in the library")
        for t in items:
            t.validate_against(current)
        current = current.with_class(apply_block(entry, items))
    return current

"""References in a script, resolved against a library; the diagnostics of the problems found on the way.

The checker's stages share one :class:`Resolver`: it turns class names, slots and concept references
into concept ids, and records an error (with a "did you mean") for every one it cannot resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .codes import Code
from .errors import Diagnostic
from .formatter import format_class_name
from .library import ClassEntry, Library
from .suggest import did_you_mean

__all__ = ["Resolved", "Resolver", "concept_origin"]


@dataclass(frozen=True)
class Resolved:
    concept: str
    origin: str  # the reference as written, canonical: pool[7], school_bus.pool[2], A.c1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _loose(name: str) -> str:
    """A class name's spelling variants (case, space, dash) all look the same."""
    return name.lower().replace(" ", "_").replace("-", "_")


@dataclass
class Resolver:
    """Resolves references against ``library`` (as the script's earlier blocks left it); collects diagnostics."""

    file: str
    library: Library
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Kept as a count, so asking "did this block add an error?" costs nothing however many came before.
    error_count: int = 0

    # -- reporting -------------------------------------------------------------------------------
    def error(self, code: Code, message: str, span: ast.Span) -> None:
        self.error_count += 1
        self.diagnostics.append(Diagnostic(code, message, span.line, span.column, span.length, "error", self.file))

    def warning(self, code: Code, message: str, span: ast.Span) -> None:
        self.diagnostics.append(Diagnostic(code, message, span.line, span.column, span.length, "warning", self.file))

    # -- resolution ------------------------------------------------------------------------------
    def lookup_class(self, ref: ast.ClassRef) -> ClassEntry | None:
        entry = self.library.get(ref.name)
        if entry is not None:
            return entry
        names = self.library.class_names
        variant = {_loose(n): n for n in names}.get(_loose(ref.name))
        # A spelling variant is suggested however unlike it looks to difflib ("FIRE-ENGINE").
        hint = did_you_mean(ref.name, [variant], cutoff=0) if variant else did_you_mean(ref.name, names)
        if not hint:
            hint = (
                f"; known classes: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"
                if names
                else "; the library has no classes"
            )
        self.error(Code.E101, f"unknown class `{ref.name}`{hint}", ref.span)
        return None

    def check_slot(self, entry: ClassEntry, slot: ast.Slot, added_here: int = 0) -> bool:
        k = len(entry.graph.nodes)
        if 1 <= slot.index <= k:
            return True
        if k < slot.index <= k + added_here:
            self.error(
                Code.E102,
                f"concept slot {slot.index} is only added by this block; slot numbers in a block refer to "
                f"the graph before it, so edit the new slot in a later `class {entry.name}:` block",
                slot.span,
            )
            return False
        valid = f"1-{k}" if k > 1 else ("1" if k == 1 else "none")
        self.error(
            Code.E102,
            f"concept slot {slot.index} is out of range: {entry.name}'s c-SCG has "
            f"{_plural(k, 'concept')} (slots {valid})",
            slot.span,
        )
        return False

    def pool_concept(self, owner: ClassEntry, index: int, span: ast.Span, written: str) -> Resolved | None:
        n = len(owner.pool)
        if 1 <= index <= n:
            return Resolved(owner.pool[index - 1].id, written)
        if n == 0:
            extra = (
                " (a defined class has no pool; name another class's concept, like `A.pool[1]`)"
                if owner.defined
                else ""
            )
            self.error(Code.E104, f"pool index {index} is out of range: {owner.name} has no pool concepts{extra}", span)
        else:
            self.error(
                Code.E104,
                f"pool index {index} is out of range: {owner.name} has {_plural(n, 'pool concept')} "
                f"(pool[1]..pool[{n}])",
                span,
            )
        return None

    def resolve(self, ref: ast.ConceptRef, context: ClassEntry | None) -> Resolved | None:
        if isinstance(ref, ast.OwnPoolRef):
            if context is None:
                self.error(
                    Code.E103,
                    f"`pool[{ref.index}]` needs a class here: a part of a defined class names its class, "
                    f"like `A.pool[{ref.index}]` or `A.c1`",
                    ref.span,
                )
                return None
            return self.pool_concept(context, ref.index, ref.span, f"pool[{ref.index}]")
        owner = self.lookup_class(ref.owner)
        if owner is None:
            return None
        if isinstance(ref, ast.ClassPoolRef):
            return self.pool_concept(owner, ref.index, ref.span, f"{format_class_name(owner.name)}.pool[{ref.index}]")
        k = len(owner.graph.nodes)
        if 1 <= ref.slot <= k:
            return Resolved(owner.graph.nodes[ref.slot - 1], f"{format_class_name(owner.name)}.c{ref.slot}")
        self.error(
            Code.E102,
            f"slot c{ref.slot} is out of range: {owner.name}'s c-SCG has {_plural(k, 'concept')}"
            + (f" (c1-c{k})" if k else ""),
            ref.span,
        )
        return None

    def origin_of(self, entry: ClassEntry, concept: str) -> str:
        return concept_origin(self.library, entry, concept)


def concept_origin(library: Library, entry: ClassEntry | None, concept: str) -> str:
    """How a concept in a graph is known to a reader: `pool[N]` in ``entry``'s own pool, else `X.pool[N]`."""
    rank = entry.pool_rank(concept) if entry is not None else None
    if rank is not None:
        return f"pool[{rank}]"
    for other in library.classes:
        rank = other.pool_rank(concept)
        if rank is not None:
            return f"{format_class_name(other.name)}.pool[{rank}]"
    return "not in any pool"

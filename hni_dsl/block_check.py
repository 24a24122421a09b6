"""The edits of one ``class`` block: each kind's rule, then the checks across the block, then its result.

Inside a block every slot number refers to the graph before the block, and the block's changes apply
together (DSL contract), so the rules record what each statement claims (slots, edges, concepts entering
the graph) and conflicts are found whatever the statements' order. ``EDIT_RULES`` maps each edit kind to
its rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import ast
from . import transforms as tf
from .codes import Code
from .formatter import format_edit
from .library import ClassEntry
from .resolver import Resolved, Resolver

__all__ = ["EDIT_RULES", "BlockCheck"]


def _edges_text(pairs: Iterable[tuple[int, int]]) -> str:
    ordered = sorted(pairs)
    return ", ".join(f"{s}->{d}" for s, d in ordered) if ordered else "none"


def _arrow(edge: ast.EdgeSpec) -> str:
    return f"{edge.src.index}{'<->' if edge.both else '->'}{edge.dst.index}"


class BlockCheck:
    """The statements of one `class` block: each on its own (its rule), then against each other, then the result."""

    def __init__(self, resolver: Resolver, entry: ClassEntry, block: int, edits: Sequence[ast.Edit]):
        self.c = resolver
        self.entry = entry
        self.block = block
        self.existing = set(entry.graph.edge_pairs())
        # Known before any rule runs, so a statement before an `add concept` or `drop edges *` sees it too.
        self.added_count = sum(isinstance(e, ast.AddConcept) for e in edits)
        self.drops_all = any(isinstance(e, ast.DropAllEdges) for e in edits)
        self.drop_all: ast.DropAllEdges | None = None  # the first `drop edges *`
        self.slot_owner: dict[int, tuple[ast.Edit, str]] = {}  # slot -> (statement, "replaced"/"dropped"/...)
        self.removed_slots: set[int] = set()  # `drop concept`, or `forbid` of a concept in the graph
        self.forbidden_here: dict[str, ast.ForbidConcept] = {}
        self.edge_owner: dict[tuple[int, int], tuple[str, ast.Span, int]] = {}  # (verb, span, line)
        # (concept, span, origin, slot it replaces or None) for every concept entering the graph
        self.new_concepts: list[tuple[str, ast.Span, str, int | None]] = []
        self.replaced: dict[int, str] = {}

    def run(self, st: ast.ClassBlock) -> list[tf.Transform]:
        out: list[tf.Transform] = []
        for edit in st.edits:
            out.extend(EDIT_RULES[type(edit)](self, edit))
        return self.across(st, out)

    def across(self, st: ast.ClassBlock, out: list[tf.Transform]) -> list[tf.Transform]:
        """Cross-statement checks, now that the whole block is known, and the graph it leaves."""
        c, entry, drop_all = self.c, self.entry, self.drop_all
        for pair, (verb, span, _line) in self.edge_owner.items():
            touched = [s for s in pair if s in self.removed_slots]
            remover, how = self.slot_owner[touched[0]] if touched else (None, "")
            if remover is not None and verb == "add":
                c.error(
                    Code.E108,
                    f"conflicting statements: edge {pair[0]}->{pair[1]} is added, but slot "
                    f"{touched[0]} is {how} on line {remover.span.line}",
                    span,
                )
            elif remover is not None:
                c.warning(
                    Code.W202,
                    f"dropping edge {pair[0]}->{pair[1]} is redundant: `{format_edit(remover)}` "
                    f"on line {remover.span.line} removes it",
                    span,
                )
            elif verb == "drop" and drop_all is not None:
                c.warning(
                    Code.W202,
                    f"dropping edge {pair[0]}->{pair[1]} is redundant: `drop edges *` on line "
                    f"{drop_all.span.line} removes every edge",
                    span,
                )
        if drop_all is not None:
            # `drop edges *` carries every edge it removes; explicit drops beside it are implied.
            out = [t for t in out if not isinstance(t, tf.DropEdge)]

        # The result: no concept twice, at least one concept left.
        base = [
            self.replaced.get(slot, node)
            for slot, node in enumerate(entry.graph.nodes, start=1)
            if slot not in self.removed_slots
        ]
        final = base + [concept for concept, _, _, own_slot in self.new_concepts if own_slot is None]
        copies = Counter(final)  # counted once: a block may hold any number of statements
        for concept, span, origin, own_slot in self.new_concepts:
            if concept in self.forbidden_here:
                c.error(
                    Code.E108,
                    f"conflicting statements: {origin} is {concept}, which line "
                    f"{self.forbidden_here[concept].span.line} forbids for {entry.name}; a block "
                    f"cannot both forbid a concept and put it in the c-SCG",
                    span,
                )
            elif copies[concept] > 1:
                others = [
                    slot
                    for slot, node in enumerate(entry.graph.nodes, start=1)
                    if self.replaced.get(slot, node) == concept and slot != own_slot and slot not in self.removed_slots
                ]
                where = f" at slot {others[0]}" if others else " (added twice by this block)"
                c.error(
                    Code.E107,
                    f"{origin} is {concept}, already in {entry.name}'s c-SCG{where}; "
                    f"a concept may appear only once in a c-SCG",
                    span,
                )
        if not final:
            c.error(
                Code.E112,
                f"this block leaves {entry.name} with no concepts; a c-SCG needs at least one "
                f"(replace a concept instead of dropping them all)",
                st.cls.span,
            )
        return out

    # -- shared by the rules ---------------------------------------------------------------------
    def claim_slot(self, slot: int, edit: ast.Edit, how: str) -> bool:
        """The first statement of a block to change a slot gets it; any other is a conflict (E108)."""
        prior = self.slot_owner.get(slot)
        if prior is not None:
            self.c.error(
                Code.E108,
                f"conflicting statements: slot {slot} is already {prior[1]} on line "
                f"{prior[0].span.line}; a block may change each slot once",
                edit.span,
            )
            return False
        self.slot_owner[slot] = (edit, how)
        return True

    def is_forbidden(self, resolved: Resolved, span: ast.Span) -> bool:
        """E113 for a concept the class was forbidden (in the library, or by an earlier block)."""
        if resolved.concept not in self.entry.forbidden:
            return False
        self.c.error(
            Code.E113,
            f"{resolved.origin} is {resolved.concept}, which is forbidden for {self.entry.name}; "
            f"a forbidden concept cannot return to its c-SCG (name another concept)",
            span,
        )
        return True

    # -- the rules, one per edit kind (see EDIT_RULES) ------------------------------------------
    def replace_concept(self, edit: ast.ReplaceConcept) -> list[tf.Transform]:
        c, entry, slot = self.c, self.entry, edit.slot.index
        if not c.check_slot(entry, edit.slot, self.added_count) or not self.claim_slot(slot, edit, "replaced"):
            return []
        old = entry.graph.nodes[slot - 1]
        resolved = c.resolve(edit.target, entry)
        if resolved is None or self.is_forbidden(resolved, edit.target.span):
            return []
        if resolved.concept == old:
            c.warning(
                Code.W201, f"replacing concept {slot} with itself ({resolved.origin} is {old}): no change", edit.span
            )
            return []
        self.replaced[slot] = resolved.concept
        self.new_concepts.append((resolved.concept, edit.target.span, resolved.origin, slot))
        return [
            tf.ReplaceConcept(
                block=self.block,
                cls=entry.name,
                slot=slot,
                old=old,
                new=resolved.concept,
                old_origin=c.origin_of(entry, old),
                new_origin=resolved.origin,
            )
        ]

    def drop_concept(self, edit: ast.DropConcept) -> list[tf.Transform]:
        c, entry, slot = self.c, self.entry, edit.slot.index
        if not c.check_slot(entry, edit.slot, self.added_count) or not self.claim_slot(slot, edit, "dropped"):
            return []
        self.removed_slots.add(slot)
        old = entry.graph.nodes[slot - 1]
        return [
            tf.DropConcept(block=self.block, cls=entry.name, slot=slot, concept=old, origin=c.origin_of(entry, old))
        ]

    def add_concept(self, edit: ast.AddConcept) -> list[tf.Transform]:
        resolved = self.c.resolve(edit.target, self.entry)
        if resolved is None or self.is_forbidden(resolved, edit.target.span):
            return []
        self.new_concepts.append((resolved.concept, edit.target.span, resolved.origin, None))
        return [tf.AddConcept(block=self.block, cls=self.entry.name, concept=resolved.concept, origin=resolved.origin)]

    def drop_all_edges(self, edit: ast.DropAllEdges) -> list[tf.Transform]:
        if self.drop_all is not None:
            self.c.error(
                Code.E108,
                f"conflicting statements: `drop edges *` is already on line {self.drop_all.span.line}",
                edit.span,
            )
            return []
        self.drop_all = edit
        if not self.existing:
            self.c.warning(Code.W202, f"{self.entry.name} has no edges: `drop edges *` changes nothing", edit.span)
            return []
        return [tf.DropAllEdges(block=self.block, cls=self.entry.name, edges=tuple(sorted(self.existing)))]

    def forbid(self, edit: ast.ForbidConcept) -> list[tf.Transform]:
        """Resolve the concept; a forbid of a concept in the graph claims (and removes) its slot."""
        c, entry = self.c, self.entry
        target = edit.target
        slot: int | None
        if isinstance(target, ast.Slot):
            if not c.check_slot(entry, target, self.added_count):
                return []
            slot = target.index
            concept = entry.graph.nodes[target.index - 1]
            origin = c.origin_of(entry, concept)
        else:
            resolved = c.resolve(target, entry)
            if resolved is None:
                return []
            concept, origin = resolved.concept, resolved.origin
            slot = entry.graph.nodes.index(concept) + 1 if concept in entry.graph.nodes else None
        if concept in entry.forbidden:
            c.warning(Code.W204, f"{origin} is {concept}, already forbidden for {entry.name}: no change", edit.span)
            return []
        prior = self.forbidden_here.get(concept)
        if prior is not None:
            c.error(
                Code.E108,
                f"conflicting statements: {origin} is {concept}, already forbidden on line {prior.span.line}",
                edit.span,
            )
            return []
        if slot is not None:
            if not self.claim_slot(slot, edit, "forbidden"):
                return []
            self.removed_slots.add(slot)
        self.forbidden_here[concept] = edit
        return [tf.ForbidConcept(block=self.block, cls=entry.name, concept=concept, origin=origin, slot=slot)]

    def add_edge(self, edit: ast.AddEdge) -> list[tf.Transform]:
        return self.edge(edit, "add")

    def drop_edge(self, edit: ast.DropEdge) -> list[tf.Transform]:
        return self.edge(edit, "drop")

    def edge(self, edit: ast.AddEdge | ast.DropEdge, verb: str) -> list[tf.Transform]:
        c, entry = self.c, self.entry
        spec = edit.edge
        ok_src = c.check_slot(entry, spec.src, self.added_count)
        ok_dst = c.check_slot(entry, spec.dst, self.added_count)
        if not (ok_src and ok_dst):
            return []
        a, b = spec.src.index, spec.dst.index
        if a == b:
            c.error(
                Code.E111, f"edge {_arrow(spec)} joins slot {a} to itself; edges join two different slots", spec.span
            )
            return []
        pairs = [(a, b), (b, a)] if spec.both else [(a, b)]
        for pair in pairs:
            if pair in self.edge_owner:
                prior_verb, _, line = self.edge_owner[pair]
                what = "repeats" if prior_verb == verb else "contradicts"
                c.error(
                    Code.E108,
                    f"conflicting statements: `{verb} edge {pair[0]}->{pair[1]}` {what} line {line}",
                    edit.span,
                )
                return []
        if verb == "drop":
            present = [p for p in pairs if p in self.existing]
            if not present:
                c.error(
                    Code.E105,
                    f"edge {_arrow(spec)} does not exist; {entry.name}'s edges: {_edges_text(self.existing)}",
                    spec.span,
                )
                return []
            if spec.both and len(present) == 1:
                missing = next(p for p in pairs if p not in present)
                c.warning(
                    Code.W203,
                    f"only {present[0][0]}->{present[0][1]} exists; {missing[0]}->{missing[1]} "
                    f"is not an edge of {entry.name}",
                    spec.span,
                )
            for pair in present:
                self.edge_owner[pair] = (verb, edit.span, edit.span.line)
            return [tf.DropEdge(block=self.block, cls=entry.name, src=s, dst=d) for s, d in present]
        # After `drop edges *` in the same block, re-adding a (removed) edge is fine.
        absent = [p for p in pairs if p not in self.existing or self.drops_all]
        if not absent:
            weight = self._weight(pairs[0])
            c.error(
                Code.E106,
                f"edge {_arrow(spec)} already exists in {entry.name}"
                + (f" (weight {weight:.3g})" if weight is not None else ""),
                spec.span,
            )
            return []
        if spec.both and len(absent) == 1:
            kept = pairs[1] if absent[0] == pairs[0] else pairs[0]
            c.warning(
                Code.W203,
                f"{kept[0]}->{kept[1]} already exists; only {absent[0][0]}->{absent[0][1]} is added",
                spec.span,
            )
        for pair in absent:
            self.edge_owner[pair] = (verb, edit.span, edit.span.line)
        return [tf.AddEdge(block=self.block, cls=entry.name, src=s, dst=d) for s, d in absent]

    def _weight(self, pair: tuple[int, int]) -> float | None:
        for e in self.entry.graph.edges:
            if (e.src, e.dst) == pair:
                return e.weight
        return None


# Each edit kind's rule: check one statement of a class block against the block's state and return its
# transforms. A new edit kind adds one entry here (and one in the formatter's table).
EDIT_RULES: dict[type[ast.Node], Callable[[BlockCheck, Any], list[tf.Transform]]] = {
    ast.ReplaceConcept: BlockCheck.replace_concept,
    ast.AddConcept: BlockCheck.add_concept,
    ast.DropConcept: BlockCheck.drop_concept,
    ast.AddEdge: BlockCheck.add_edge,
    ast.DropEdge: BlockCheck.drop_edge,
    ast.DropAllEdges: BlockCheck.drop_all_edges,
    ast.ForbidConcept: BlockCheck.forbid,
}

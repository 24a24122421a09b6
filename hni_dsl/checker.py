"""Check a parsed script against a library and compile it to transforms.

The checker resolves every reference (classes, slots, pool ranks, other classes' slots), reports *all*
problems at once as diagnostics, and produces the transforms of the statements that are sound. Blocks
are checked in order against the library as the blocks before them left it; inside a block every slot
number refers to the numbering before the block (DSL contract).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional, Union

from . import ast
from . import transforms as tf
from .errors import Diagnostic, HniSemanticError
from .formatter import format_edit, format_forbid
from .library import ClassEntry, Library

__all__ = ["CheckResult", "check", "compile_script", "concept_origin"]


@dataclass(frozen=True)
class CheckResult:
    script: ast.Script
    file: str
    diagnostics: tuple[Diagnostic, ...]
    transforms: tuple[tf.Transform, ...]
    library_after: Library

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Resolved:
    concept: str
    origin: str  # the reference as written, canonical: pool[7], school_bus.pool[2], A.c1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _edges_text(pairs) -> str:
    pairs = sorted(pairs)
    return ", ".join(f"{s}->{d}" for s, d in pairs) if pairs else "none"


def _arrow(edge: ast.EdgeSpec) -> str:
    return f"{edge.src.index}{'<->' if edge.both else '->'}{edge.dst.index}"


@dataclass
class _Checker:
    file: str
    library: Library
    block_base: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    transforms: list[tf.Transform] = field(default_factory=list)

    # -- reporting -------------------------------------------------------------------------------
    def error(self, code: str, message: str, span: ast.Span) -> None:
        self.diagnostics.append(Diagnostic(code, message, span.line, span.column, span.length, "error", self.file))

    def warning(self, code: str, message: str, span: ast.Span) -> None:
        self.diagnostics.append(Diagnostic(code, message, span.line, span.column, span.length, "warning", self.file))

    # -- resolution ------------------------------------------------------------------------------
    def lookup_class(self, ref: ast.ClassRef) -> Optional[ClassEntry]:
        entry = self.library.get(ref.name)
        if entry is not None:
            return entry
        names = self.library.class_names
        normal = {n.lower().replace(" ", "_").replace("-", "_"): n for n in names}
        guess = normal.get(ref.name.lower().replace(" ", "_").replace("-", "_"))
        if guess is None:
            close = difflib.get_close_matches(ref.name, names, n=1, cutoff=0.6)
            guess = close[0] if close else None
        hint = f"; did you mean `{guess}`?" if guess else (
            f"; known classes: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}" if names else
            "; the library has no classes")
        self.error("E101", f"unknown class `{ref.name}`{hint}", ref.span)
        return None

    def check_slot(self, entry: ClassEntry, slot: ast.Slot, added_here: int = 0) -> bool:
        k = len(entry.graph.nodes)
        if 1 <= slot.index <= k:
            return True
        if k < slot.index <= k + added_here:
            self.error(
                "E102",
                f"concept slot {slot.index} is only added by this block; slot numbers in a block refer to "
                f"the graph before it, so edit the new slot in a later `class {entry.name}:` block",
                slot.span,
            )
            return False
        valid = f"1-{k}" if k > 1 else ("1" if k == 1 else "none")
        self.error(
            "E102",
            f"concept slot {slot.index} is out of range: {entry.name}'s c-SCG has "
            f"{_plural(k, 'concept')} (slots {valid})",
            slot.span,
        )
        return False

    def pool_concept(self, owner: ClassEntry, index: int, span: ast.Span, written: str) -> Optional[_Resolved]:
        n = len(owner.pool)
        if 1 <= index <= n:
            return _Resolved(owner.pool[index - 1].id, written)
        if n == 0:
            extra = " (a defined class has no pool; name another class's concept, like `A.pool[1]`)" \
                if owner.defined else ""
            self.error("E104", f"pool index {index} is out of range: {owner.name} has no pool concepts{extra}", span)
        else:
            self.error(
                "E104",
                f"pool index {index} is out of range: {owner.name} has {_plural(n, 'pool concept')} "
                f"(pool[1]..pool[{n}])",
                span,
            )
        return None

    def resolve(self, ref: ast.ConceptRef, context: Optional[ClassEntry]) -> Optional[_Resolved]:
        if isinstance(ref, ast.OwnPoolRef):
            if context is None:
                self.error(
                    "E103",
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
            return self.pool_concept(owner, ref.index, ref.span, f"{_name(owner.name)}.pool[{ref.index}]")
        k = len(owner.graph.nodes)
        if 1 <= ref.slot <= k:
            return _Resolved(owner.graph.nodes[ref.slot - 1], f"{_name(owner.name)}.c{ref.slot}")
        self.error(
            "E102",
            f"slot c{ref.slot} is out of range: {owner.name}'s c-SCG has {_plural(k, 'concept')}"
            + (f" (c1-c{k})" if k else ""),
            ref.span,
        )
        return None

    def origin_of(self, entry: ClassEntry, concept: str) -> str:
        return concept_origin(self.library, entry, concept)

    # -- statements ------------------------------------------------------------------------------
    def run(self, script: ast.Script) -> None:
        for block_index, statement in enumerate(script.statements, start=self.block_base):
            if isinstance(statement, ast.ForbidStatement):
                self.misplaced_forbid(statement)
            elif isinstance(statement, ast.DefineClass):
                self.define(block_index, statement)
            else:
                self.class_block(block_index, statement)

    def misplaced_forbid(self, st: ast.ForbidStatement) -> None:
        self.error(
            "E010",
            f"`forbid` goes inside a class block, which names the class that must not rely on the concept: "
            f"`class NAME: {format_forbid(st.target)}`",
            st.span,
        )

    def define(self, block: int, st: ast.DefineClass) -> None:
        ok = True
        if self.library.get(st.cls.name) is not None:
            self.error(
                "E109",
                f"class `{st.cls.name}` already exists; `define` creates a new class "
                f"(to change it, write a `class {_name(st.cls.name)}:` block)",
                st.cls.span,
            )
            ok = False
        parts: list[_Resolved] = []
        seen: dict[str, str] = {}
        for ref in st.parts:
            resolved = self.resolve(ref, None)
            if resolved is None:
                ok = False
                continue
            if resolved.concept in seen:
                self.error(
                    "E107",
                    f"{resolved.origin} is {resolved.concept}, already used as {seen[resolved.concept]}; "
                    f"a concept may appear only once in a c-SCG",
                    ref.span,
                )
                ok = False
                continue
            seen[resolved.concept] = resolved.origin
            parts.append(resolved)
        like = self.lookup_class(st.edges_like)
        if like is not None and len(like.graph.nodes) < len(st.parts):
            self.error(
                "E110",
                f"`edges like {like.name}` needs at least {len(st.parts)} slots (one per part), but "
                f"{like.name} has {len(like.graph.nodes)}; name a class with a larger c-SCG or use fewer parts",
                st.edges_like.span,
            )
            ok = False
        if not ok or like is None:
            return
        m = len(parts)
        edges = tuple(sorted((s, d) for s, d in like.graph.edge_pairs() if s <= m and d <= m))
        t = tf.DefineClass(
            block=block, cls=st.cls.name, parts=tuple(p.concept for p in parts),
            part_origins=tuple(p.origin for p in parts), edges_like=like.name, edges=edges,
        )
        self.commit([t])

    def class_block(self, block: int, st: ast.ClassBlock) -> None:
        entry = self.lookup_class(st.cls)
        if entry is None:
            # Still resolve cross-class references so their problems are reported too.
            for edit in st.edits:
                target = getattr(edit, "target", None)
                if target is not None and not isinstance(target, (ast.OwnPoolRef, ast.Slot)):
                    self.resolve(target, None)
            return
        errors_before = sum(d.is_error for d in self.diagnostics)
        block_transforms = _BlockCheck(self, entry, block).run(st)
        if sum(d.is_error for d in self.diagnostics) == errors_before:
            self.commit(block_transforms)

    def commit(self, transforms: list[tf.Transform]) -> None:
        if not transforms:
            return
        self.library = tf.apply_transforms(self.library, transforms)
        self.transforms.extend(transforms)


def concept_origin(library: Library, entry: Optional[ClassEntry], concept: str) -> str:
    """How a concept in a graph is known to a reader: `pool[N]` in ``entry``'s own pool, else `X.pool[N]`."""
    rank = entry.pool_rank(concept) if entry is not None else None
    if rank is not None:
        return f"pool[{rank}]"
    for other in library.classes:
        rank = other.pool_rank(concept)
        if rank is not None:
            return f"{_name(other.name)}.pool[{rank}]"
    return "not in any pool"


def _name(name: str) -> str:
    from .formatter import format_class_name

    return format_class_name(name)


EditNode = Union[ast.ReplaceConcept, ast.AddConcept, ast.DropConcept, ast.AddEdge, ast.DropEdge, ast.DropAllEdges,
                 ast.ForbidConcept]
SlotEdit = Union[ast.ReplaceConcept, ast.DropConcept, ast.ForbidConcept]  # the statements that claim a slot

_SLOT_VERB = {"replace_concept": "replaced", "drop_concept": "dropped", "forbid_concept": "forbidden"}


class _BlockCheck:
    """The statements of one `class` block: each on its own, then against each other, then the result."""

    def __init__(self, checker: _Checker, entry: ClassEntry, block: int):
        self.c = checker
        self.entry = entry
        self.block = block
        self.existing = set(entry.graph.edge_pairs())
        self.drops_all = False
        self.slot_owner: dict[int, SlotEdit] = {}
        # slots this block removes (`drop concept`, or `forbid` of a concept in the graph)
        self.removed_slots: dict[int, ast.DropConcept | ast.ForbidConcept] = {}
        self.forbidden_here: dict[str, ast.ForbidConcept] = {}

    def run(self, st: ast.ClassBlock) -> list[tf.Transform]:
        c, entry = self.c, self.entry
        added_count = sum(isinstance(e, ast.AddConcept) for e in st.edits)
        self.drops_all = any(isinstance(e, ast.DropAllEdges) for e in st.edits)
        removed = self.removed_slots
        edge_owner: dict[tuple[int, int], tuple[str, ast.Span, int]] = {}
        drop_all: Optional[ast.DropAllEdges] = None
        out: list[tf.Transform] = []
        # (concept, span, origin, slot it replaces or None) for every concept entering the graph
        new_concepts: list[tuple[str, ast.Span, str, Optional[int]]] = []
        replaced: dict[int, str] = {}

        for edit in st.edits:
            if isinstance(edit, ast.ForbidConcept):
                out.extend(self.forbid(edit, added_count))
            elif isinstance(edit, (ast.ReplaceConcept, ast.DropConcept)):
                if not c.check_slot(entry, edit.slot, added_count):
                    continue
                slot = edit.slot.index
                if not self.claim_slot(slot, edit):
                    continue
                old = entry.graph.nodes[slot - 1]
                if isinstance(edit, ast.DropConcept):
                    removed[slot] = edit
                    out.append(tf.DropConcept(block=self.block, cls=entry.name, slot=slot, concept=old,
                                              origin=c.origin_of(entry, old)))
                    continue
                resolved = c.resolve(edit.target, entry)
                if resolved is None or self.is_forbidden(resolved, edit.target.span):
                    continue
                if resolved.concept == old:
                    c.warning("W201", f"replacing concept {slot} with itself ({resolved.origin} is {old}): "
                                      f"no change", edit.span)
                    continue
                replaced[slot] = resolved.concept
                new_concepts.append((resolved.concept, edit.target.span, resolved.origin, slot))
                out.append(tf.ReplaceConcept(block=self.block, cls=entry.name, slot=slot, old=old,
                                             new=resolved.concept, old_origin=c.origin_of(entry, old),
                                             new_origin=resolved.origin))
            elif isinstance(edit, ast.AddConcept):
                resolved = c.resolve(edit.target, entry)
                if resolved is None or self.is_forbidden(resolved, edit.target.span):
                    continue
                new_concepts.append((resolved.concept, edit.target.span, resolved.origin, None))
                out.append(tf.AddConcept(block=self.block, cls=entry.name, concept=resolved.concept,
                                         origin=resolved.origin))
            elif isinstance(edit, ast.DropAllEdges):
                if drop_all is not None:
                    c.error("E108", f"conflicting statements: `drop edges *` is already on line "
                                    f"{drop_all.span.line}", edit.span)
                    continue
                drop_all = edit
                if not self.existing:
                    c.warning("W202", f"{entry.name} has no edges: `drop edges *` changes nothing", edit.span)
                    continue
                out.append(tf.DropAllEdges(block=self.block, cls=entry.name, edges=tuple(sorted(self.existing))))
            else:  # add / drop edge
                out.extend(self.edge(edit, added_count, edge_owner))

        # Cross-statement checks, now that the whole block is known.
        for pair, (verb, span, _line) in edge_owner.items():
            touched = [s for s in pair if s in removed]
            remover = removed[touched[0]] if touched else None
            if remover is not None and verb == "add":
                c.error("E108", f"conflicting statements: edge {pair[0]}->{pair[1]} is added, but slot "
                                f"{touched[0]} is {_SLOT_VERB[remover.kind]} on line {remover.span.line}", span)
            elif remover is not None:
                c.warning("W202", f"dropping edge {pair[0]}->{pair[1]} is redundant: `{format_edit(remover)}` "
                                  f"on line {remover.span.line} removes it", span)
            elif verb == "drop" and drop_all is not None:
                c.warning("W202", f"dropping edge {pair[0]}->{pair[1]} is redundant: `drop edges *` on line "
                                  f"{drop_all.span.line} removes every edge", span)
        if drop_all is not None:
            # `drop edges *` carries every edge it removes; explicit drops beside it are implied.
            out = [t for t in out if not isinstance(t, tf.DropEdge)]

        # The result: no concept twice, at least one concept left.
        base = [replaced.get(slot, node) for slot, node in enumerate(entry.graph.nodes, start=1)
                if slot not in removed]
        final = base + [t.concept for t in out if isinstance(t, tf.AddConcept)]
        for concept, span, origin, own_slot in new_concepts:
            if concept in self.forbidden_here:
                c.error("E108", f"conflicting statements: {origin} is {concept}, which line "
                                f"{self.forbidden_here[concept].span.line} forbids for {entry.name}; a block "
                                f"cannot both forbid a concept and put it in the c-SCG", span)
            elif final.count(concept) > 1:
                others = [slot for slot, node in enumerate(entry.graph.nodes, start=1)
                          if replaced.get(slot, node) == concept and slot != own_slot and slot not in removed]
                where = f" at slot {others[0]}" if others else " (added twice by this block)"
                c.error("E107", f"{origin} is {concept}, already in {entry.name}'s c-SCG{where}; "
                                f"a concept may appear only once in a c-SCG", span)
        if not final:
            c.error("E112", f"this block leaves {entry.name} with no concepts; a c-SCG needs at least one "
                            f"(replace a concept instead of dropping them all)", st.cls.span)
        return out

    def claim_slot(self, slot: int, edit: SlotEdit) -> bool:
        """The first statement of a block to change a slot gets it; any other is a conflict (E108)."""
        prior = self.slot_owner.get(slot)
        if prior is not None:
            self.c.error(
                "E108",
                f"conflicting statements: slot {slot} is already {_SLOT_VERB[prior.kind]} on line "
                f"{prior.span.line}; a block may change each slot once",
                edit.span,
            )
            return False
        self.slot_owner[slot] = edit
        return True

    def is_forbidden(self, resolved: _Resolved, span: ast.Span) -> bool:
        """E113 for a concept the class was forbidden (in the library, or by an earlier block)."""
        if resolved.concept not in self.entry.forbidden:
            return False
        self.c.error("E113", f"{resolved.origin} is {resolved.concept}, which is forbidden for {self.entry.name}; "
                             f"a forbidden concept cannot return to its c-SCG (name another concept)", span)
        return True

    def forbid(self, edit: ast.ForbidConcept, added_count: int) -> list[tf.Transform]:
        """Resolve the concept; a forbid of a concept in the graph claims (and removes) its slot."""
        c, entry = self.c, self.entry
        target = edit.target
        if isinstance(target, ast.Slot):
            if not c.check_slot(entry, target, added_count):
                return []
            slot: Optional[int] = target.index
            concept = entry.graph.nodes[target.index - 1]
            origin = c.origin_of(entry, concept)
        else:
            resolved = c.resolve(target, entry)
            if resolved is None:
                return []
            concept, origin = resolved.concept, resolved.origin
            slot = entry.graph.nodes.index(concept) + 1 if concept in entry.graph.nodes else None
        if concept in entry.forbidden:
            c.warning("W204", f"{origin} is {concept}, already forbidden for {entry.name}: no change", edit.span)
            return []
        prior = self.forbidden_here.get(concept)
        if prior is not None:
            c.error("E108", f"conflicting statements: {origin} is {concept}, already forbidden on line "
                            f"{prior.span.line}", edit.span)
            return []
        if slot is not None:
            if not self.claim_slot(slot, edit):
                return []
            self.removed_slots[slot] = edit
        self.forbidden_here[concept] = edit
        return [tf.ForbidConcept(block=self.block, cls=entry.name, concept=concept, origin=origin, slot=slot)]

    def edge(self, edit: ast.AddEdge | ast.DropEdge, added_count: int,
             edge_owner: dict[tuple[int, int], tuple[str, ast.Span, int]]) -> list[tf.Transform]:
        c, entry = self.c, self.entry
        spec = edit.edge
        ok_src = c.check_slot(entry, spec.src, added_count)
        ok_dst = c.check_slot(entry, spec.dst, added_count)
        if not (ok_src and ok_dst):
            return []
        a, b = spec.src.index, spec.dst.index
        if a == b:
            c.error("E111", f"edge {_arrow(spec)} joins slot {a} to itself; edges join two different slots",
                    spec.span)
            return []
        verb = "add" if isinstance(edit, ast.AddEdge) else "drop"
        pairs = [(a, b), (b, a)] if spec.both else [(a, b)]
        for pair in pairs:
            if pair in edge_owner:
                prior_verb, _, line = edge_owner[pair]
                what = "repeats" if prior_verb == verb else "contradicts"
                c.error("E108", f"conflicting statements: `{verb} edge {pair[0]}->{pair[1]}` {what} line {line}",
                        edit.span)
                return []
        if verb == "drop":
            present = [p for p in pairs if p in self.existing]
            if not present:
                c.error("E105", f"edge {_arrow(spec)} does not exist; {entry.name}'s edges: "
                                f"{_edges_text(self.existing)}", spec.span)
                return []
            if spec.both and len(present) == 1:
                missing = next(p for p in pairs if p not in present)
                c.warning("W203", f"only {present[0][0]}->{present[0][1]} exists; {missing[0]}->{missing[1]} "
                                  f"is not an edge of {entry.name}", spec.span)
            for pair in present:
                edge_owner[pair] = (verb, edit.span, edit.span.line)
            return [tf.DropEdge(block=self.block, cls=entry.name, src=s, dst=d) for s, d in present]
        # After `drop edges *` in the same block, re-adding a (removed) edge is fine.
        absent = [p for p in pairs if p not in self.existing or self.drops_all]
        if not absent:
            c.error("E106", f"edge {_arrow(spec)} already exists in {entry.name}"
                            + (f" (weight {self._weight(pairs[0]):.3g})" if self._weight(pairs[0]) is not None
                               else ""), spec.span)
            return []
        if spec.both and len(absent) == 1:
            c.warning("W203", f"{pairs[0][0] if absent[0] != pairs[0] else pairs[1][0]}->"
                              f"{pairs[0][1] if absent[0] != pairs[0] else pairs[1][1]} already exists; only "
                              f"{absent[0][0]}->{absent[0][1]} is added", spec.span)
        for pair in absent:
            edge_owner[pair] = (verb, edit.span, edit.span.line)
        return [tf.AddEdge(block=self.block, cls=entry.name, src=s, dst=d) for s, d in absent]

    def _weight(self, pair: tuple[int, int]) -> Optional[float]:
        for e in self.entry.graph.edges:
            if (e.src, e.dst) == pair:
                return e.weight
        return None


def check(script: ast.Script, library: Library, file: str = "<script>", block_base: int = 0) -> CheckResult:
    """Check ``script`` against ``library``: all diagnostics, the transforms, the library after.

    The returned library is the input with every *sound* block applied; callers that must change nothing
    on error look at :attr:`CheckResult.ok` first. ``block_base`` numbers the blocks after those of earlier
    scripts, so the blocks of several scripts stay distinct in one plan.
    """
    checker = _Checker(file=file, library=library, block_base=block_base)
    checker.run(script)
    diagnostics = tuple(sorted(checker.diagnostics, key=Diagnostic.sort_key))
    return CheckResult(script, file, diagnostics, tuple(checker.transforms), checker.library)


def compile_script(script: ast.Script, library: Library, file: str = "<script>",
                   source: Optional[str] = None) -> tuple[tf.Transform, ...]:
    """The transforms of a script, or :class:`HniSemanticError` with every error found."""
    result = check(script, library, file)
    if not result.ok:
        raise HniSemanticError(list(result.errors), source=source)
    return result.transforms

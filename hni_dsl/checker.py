"""Check a parsed script against a library and compile it to transforms.

The checker resolves every reference (classes, slots, pool ranks, other classes' slots), reports *all*
problems at once as diagnostics, and produces the transforms of the statements that are sound. Blocks
are checked in order against the library as the blocks before them left it; inside a block every slot
number refers to the numbering before the block (DSL contract).

Each statement kind has one rule, found through a table keyed by its syntax-tree type: ``STATEMENT_RULES``
here for top-level statements, :data:`~hni_dsl.block_check.EDIT_RULES` for the edits of a class block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import ast
from . import transforms as tf
from .block_check import BlockCheck
from .codes import Code
from .collector import collector_paused
from .errors import Diagnostic, HniSemanticError
from .formatter import format_class_name, format_forbid
from .library import Library
from .resolver import Resolved, Resolver, concept_origin

__all__ = ["STATEMENT_RULES", "CheckResult", "check", "compile_script", "concept_origin"]


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


@dataclass
class _Checker(Resolver):
    """Runs each statement's rule in order; commits the transforms of every sound statement to ``library``."""

    block_base: int = 0
    transforms: list[tf.Transform] = field(default_factory=list)

    # -- statements ------------------------------------------------------------------------------
    def run(self, script: ast.Script) -> None:
        for block, statement in enumerate(script.statements, start=self.block_base):
            STATEMENT_RULES[type(statement)](self, block, statement)

    def misplaced_forbid(self, block: int, st: ast.ForbidStatement) -> None:
        self.error(
            Code.E010,
            f"`forbid` goes inside a class block, which names the class that must not rely on the concept: "
            f"`class NAME: {format_forbid(st.target)}`",
            st.span,
        )

    def define(self, block: int, st: ast.DefineClass) -> None:
        ok = True
        if self.library.get(st.cls.name) is not None:
            self.error(
                Code.E109,
                f"class `{st.cls.name}` already exists; `define` creates a new class "
                f"(to change it, write a `class {format_class_name(st.cls.name)}:` block)",
                st.cls.span,
            )
            ok = False
        parts: list[Resolved] = []
        seen: dict[str, str] = {}
        for ref in st.parts:
            resolved = self.resolve(ref, None)
            if resolved is None:
                ok = False
                continue
            if resolved.concept in seen:
                self.error(
                    Code.E107,
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
                Code.E110,
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
            block=block,
            cls=st.cls.name,
            parts=tuple(p.concept for p in parts),
            part_origins=tuple(p.origin for p in parts),
            edges_like=like.name,
            edges=edges,
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
        errors_before = self.error_count
        block_transforms = BlockCheck(self, entry, block, st.edits).run(st)
        if self.error_count == errors_before:
            self.commit(block_transforms)

    def commit(self, transforms: list[tf.Transform]) -> None:
        if not transforms:
            return
        self.library = tf.apply_transforms(self.library, transforms)
        self.transforms.extend(transforms)


# Each top-level statement kind's rule: (checker, block number, statement). A new kind adds one entry.
STATEMENT_RULES: dict[type[ast.Node], Callable[[_Checker, int, Any], None]] = {
    ast.ClassBlock: _Checker.class_block,
    ast.DefineClass: _Checker.define,
    ast.ForbidStatement: _Checker.misplaced_forbid,
}


def check(script: ast.Script, library: Library, file: str = "<script>", block_base: int = 0) -> CheckResult:
    """Check ``script`` against ``library``: all diagnostics, the transforms, the library after.

    The returned library is the input with every *sound* block applied; callers that must change nothing
    on error look at :attr:`CheckResult.ok` first. ``block_base`` numbers the blocks after those of earlier
    scripts, so the blocks of several scripts stay distinct in one plan.
    """
    checker = _Checker(file=file, library=library, block_base=block_base)
    with collector_paused():
        checker.run(script)
    diagnostics = tuple(sorted(checker.diagnostics, key=Diagnostic.sort_key))
    return CheckResult(script, file, diagnostics, tuple(checker.transforms), checker.library)


def compile_script(
    script: ast.Script, library: Library, file: str = "<script>", source: str | None = None
) -> tuple[tf.Transform, ...]:
    """The transforms of a script, or :class:`HniSemanticError` with every error found."""
    result = check(script, library, file)
    if not result.ok:
        raise HniSemanticError(list(result.errors), source=source)
    return result.transforms

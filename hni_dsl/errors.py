"""Diagnostics and the exception tree of the language.

Every problem the language finds becomes a :class:`Diagnostic` with a stable code, a 1-based position
and a message that says what is wrong and what would be right. Diagnostics are rendered like a
compiler's::

    edits/vehicles.hni:3:28: error[E104]: pool index 31 is out of range: fire_engine has 25 pool concepts
      replace concept 2 with pool[31]
                             ^^^^^^^^

Codes are stable (scripts and reviewers' CI may match on them): :class:`hni_dsl.codes.Code` lists them,
and :func:`hni_dsl.codes.explain` says what each means and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Diagnostic",
    "HniError",
    "HniSemanticError",
    "HniSyntaxError",
    "LibraryError",
    "Severity",
    "render_diagnostics",
]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file, at a 1-based line and column, spanning ``length`` characters."""

    code: str
    message: str
    line: int
    column: int
    length: int = 1
    severity: Severity = "error"
    file: str = "<script>"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"

    def render(self, source: str | None = None) -> str:
        """The headline, plus the offending source line and a caret when the source is known."""
        out = [self.headline()]
        if source is not None:
            lines = source.splitlines()
            if 1 <= self.line <= len(lines):
                raw = lines[self.line - 1].expandtabs(1)
                text = raw.lstrip()
                shift = len(raw) - len(text)
                col = max(self.column - 1 - shift, 0)
                width = max(1, min(self.length, max(len(text) - col, 1)))
                out.append("  " + text.rstrip())
                out.append("  " + " " * col + "^" * width)
        return "\n".join(out)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)


def render_diagnostics(
    diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None, limit: int = 50
) -> str:
    """Render diagnostics in source order, capped at ``limit`` with an "... and N more" line."""
    items = sorted(diagnostics, key=Diagnostic.sort_key)
    sources = sources or {}
    shown = [d.render(sources.get(d.file)) for d in items[:limit]]
    if len(items) > limit:
        shown.append(f"... and {len(items) - limit} more")
    return "\n".join(shown)


class HniError(Exception):
    """Root of every error the project raises on purpose."""


class LibraryError(HniError):
    """A library file is missing, unreadable, malformed or of the wrong format version."""

    def __init__(self, path: str, message: str, field: str | None = None):
        self.path = path
        self.field = field
        self.detail = message
        where = f"{path}: field {field!r}: " if field else f"{path}: "
        super().__init__(where + message)


class HniDiagnosticError(HniError):
    """An error carrying one or more diagnostics (all of them, not only the first)."""

    def __init__(self, diagnostics: list[Diagnostic], source: str | None = None):
        if not diagnostics:
            raise ValueError("an HniDiagnosticError needs at least one diagnostic")
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.source = source
        first = self.diagnostics[0]
        self.code = first.code
        self.line = first.line
        self.column = first.column
        super().__init__(first.headline())

    def render(self, limit: int = 50) -> str:
        sources = {d.file: self.source for d in self.diagnostics} if self.source is not None else None
        return render_diagnostics(self.diagnostics, sources, limit)


class HniSyntaxError(HniDiagnosticError):
    """The script text does not follow the grammar."""


class HniSemanticError(HniDiagnosticError):
    """The script parses but does not fit the library (unknown class, slot out of range, ...)."""

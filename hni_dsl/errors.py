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
from typing import Final, Literal

from .escape import ELLIPSIS, clip, escape

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

# A diagnostic echoes at most this many characters of its source line, around the column; a message
# quotes names from the input, so it is cut too. Output stays small whatever one line of input holds.
EXCERPT_WIDTH: Final = 120
MESSAGE_LIMIT: Final = 1000


def _source_lines(source: str) -> list[str]:
    """The source's lines as the parser numbers them (at ``\\n`` only)."""
    lines = source.split("\n")
    if source.endswith("\n"):
        lines.pop()
    return lines


def _excerpt(line: str, column: int, length: int) -> list[str]:
    """The source line (a window of it around ``column`` when long) and a caret line under the span."""
    start = len(line) - len(line.lstrip(" \t\f")) if line[:1] in (" ", "\t", "\f") else 0
    end = len(line)
    while end > start and line[end - 1] in " \t\f\v\r":
        end -= 1
    col = max(column - 1, start)
    lo, hi = start, end
    if hi - lo > EXCERPT_WIDTH:
        lo = max(start, min(col - EXCERPT_WIDTH // 3, end - EXCERPT_WIDTH))
        hi = lo + EXCERPT_WIDTH
    col = min(col, hi)
    width = max(1, min(length, hi - col))
    window = line[lo:hi].replace("\t", " ")
    before = ELLIPSIS if lo > start else ""
    after = ELLIPSIS if hi < end else ""
    offset = len(before) + len(escape(window[: col - lo]))
    marks = max(1, len(escape(window[col - lo : col - lo + width])))
    return ["  " + before + escape(window) + after, "  " + " " * offset + "^" * marks]


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
        text = (
            f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}]: {clip(self.message, MESSAGE_LIMIT)}"
        )
        return escape(text)

    def render(self, source: str | None = None) -> str:
        """The headline, plus the offending source line and a caret when the source is known."""
        return self._render(_source_lines(source) if source is not None else None)

    def _render(self, lines: list[str] | None) -> str:
        out = [self.headline()]
        if lines is not None and 1 <= self.line <= len(lines):
            out.extend(_excerpt(lines[self.line - 1], self.column, self.length))
        return "\n".join(out)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.code)


def render_diagnostics(
    diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None, limit: int = 50
) -> str:
    """Render diagnostics in source order, capped at ``limit`` with an "... and N more" line."""
    items = sorted(diagnostics, key=Diagnostic.sort_key)
    sources = sources or {}
    split: dict[str, list[str] | None] = {}  # each source split once, however many diagnostics it has
    shown = []
    for d in items[:limit]:
        if d.file not in split:
            source = sources.get(d.file)
            split[d.file] = _source_lines(source) if source is not None else None
        shown.append(d._render(split[d.file]))
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
        where = f"{path}: field {clip(field, 200)!r}: " if field else f"{path}: "
        super().__init__(escape(where + clip(message, MESSAGE_LIMIT)))


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

"""The canonical formatter: one spelling for every script.

Rules: single spaces between words, `->`/`<->` without spaces, `; ` between the statements of a one-line
block, 4-space indentation, one statement per line in block form, numbers without leading zeros, class
names quoted only when they must be, at most one blank line in a row and none right after a block header,
comments kept where they were (a trailing comment two spaces after its code). The author's choice of
one-line or block form is kept. ``format(format(s)) == format(s)`` and ``parse(format(s)) == parse(s)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import ast
from .parser import KEYWORDS, parse

__all__ = [
    "EDIT_FORMATS",
    "STATEMENT_FORMATS",
    "format_class_name",
    "format_edit",
    "format_forbid",
    "format_ref",
    "format_script",
    "format_text",
]

INDENT = "    "
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_class_name(name: str) -> str:
    """`fire_engine` stays bare; `"toy truck"` and names that are keywords are quoted."""
    if _IDENT.match(name) and name not in KEYWORDS and not re.fullmatch(r"c[0-9]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_ref(ref: ast.ConceptRef) -> str:
    if isinstance(ref, ast.OwnPoolRef):
        return f"pool[{ref.index}]"
    if isinstance(ref, ast.ClassPoolRef):
        return f"{format_class_name(ref.owner.name)}.pool[{ref.index}]"
    return f"{format_class_name(ref.owner.name)}.c{ref.slot}"


def format_forbid(target: ast.ForbidTarget) -> str:
    """`forbid concept N` for a slot of the edited class, else `forbid REF`."""
    if isinstance(target, ast.Slot):
        return f"forbid concept {target.index}"
    return f"forbid {format_ref(target)}"


def _edge(edge: ast.EdgeSpec) -> str:
    return f"{edge.src.index}{'<->' if edge.both else '->'}{edge.dst.index}"


# Each edit kind's canonical text. A new edit kind adds one entry here (and one in the checker's table).
EDIT_FORMATS: dict[type[ast.Node], Callable[[Any], str]] = {
    ast.ReplaceConcept: lambda e: f"replace concept {e.slot.index} with {format_ref(e.target)}",
    ast.AddConcept: lambda e: f"add concept {format_ref(e.target)}",
    ast.DropConcept: lambda e: f"drop concept {e.slot.index}",
    ast.AddEdge: lambda e: f"add edge {_edge(e.edge)}",
    ast.DropEdge: lambda e: f"drop edge {_edge(e.edge)}",
    ast.DropAllEdges: lambda e: "drop edges *",
    ast.ForbidConcept: lambda e: format_forbid(e.target),
}


def format_edit(edit: ast.Edit) -> str:
    text = EDIT_FORMATS.get(type(edit))
    if text is None:
        raise TypeError(f"not an edit: {edit!r}")
    return text(edit)


_Line = tuple[int, int, str]  # (source line, indent level, text) of one output line


def _class_lines(block: ast.ClassBlock) -> list[_Line]:
    header = f"class {format_class_name(block.cls.name)}:"
    if block.layout.inline:
        return [(block.span.line, 0, header + " " + "; ".join(format_edit(e) for e in block.edits))]
    return [(block.span.line, 0, header)] + [(edit.span.line, 1, format_edit(edit)) for edit in block.edits]


def _define_lines(define: ast.DefineClass) -> list[_Line]:
    parts = ", ".join(format_ref(p) for p in define.parts)
    text = (
        f"define class {format_class_name(define.cls.name)} from {parts}, "
        f"edges like {format_class_name(define.edges_like.name)}"
    )
    return [(define.span.line, 0, text)]


# Each top-level statement kind's output lines; a statement of several lines is a block, which its comments
# may sit inside. A new kind adds one entry here (and one in the checker's table).
STATEMENT_FORMATS: dict[type[ast.Node], Callable[[Any], list[_Line]]] = {
    ast.ClassBlock: _class_lines,
    ast.DefineClass: _define_lines,
    ast.ForbidStatement: lambda st: [(st.span.line, 0, format_forbid(st.target))],
}


def format_script(script: ast.Script) -> str:
    """Canonical text of a parsed script (comments and blank-line separation come from its trivia)."""
    items: list[tuple[int, int, str, bool]] = []  # (source line, indent, text, is_header)
    block_ranges: list[tuple[int, int]] = []
    for statement in script.statements:
        lines = STATEMENT_FORMATS[type(statement)](statement)
        if len(lines) > 1:
            # From the header to its last line (not the span's end, which runs on over trailing newlines).
            block_ranges.append((lines[0][0], max(line for line, _, _ in lines[1:])))
        for i, (line, level, text) in enumerate(lines):
            items.append((line, level, text, i == 0 and len(lines) > 1))

    code_lines = {item[0] for item in items}
    trailing: dict[int, list[str]] = {}
    for comment in script.trivia.comments:
        if comment.trailing and comment.line in code_lines:
            trailing.setdefault(comment.line, []).append(comment.text)
        else:
            inside = any(start < comment.line <= end for start, end in block_ranges)
            items.append((comment.line, 1 if inside else 0, comment.text, False))
    # Stable sort: code lines keep their order; a comment goes after code on an earlier line.
    items.sort(key=lambda item: item[0])

    # A trailing comment follows the last output line that came from its source line.
    last_index_of_line: dict[int, int] = {}
    for index, (line, _, _, _) in enumerate(items):
        last_index_of_line[line] = index

    # Lines as (code, trailing comment); a blank line is None.
    rows: list[tuple[str, str | None] | None] = []
    previous_header = False
    for index, (line, level, text, is_header) in enumerate(items):
        if rows and not previous_header and (line - 1) in script.trivia.blank_lines:
            rows.append(None)
        after = "  ".join(trailing[line]) if last_index_of_line.get(line) == index and line in trailing else None
        rows.append((INDENT * level + text, after))
        previous_header = is_header
    return _align_comments(rows)


def _align_comments(rows: list[tuple[str, str | None] | None]) -> str:
    """Join rows; trailing comments line up within each run of lines between blank lines (None)."""
    runs: list[list[tuple[str, str | None]]] = [[]]
    for row in rows:
        if row is None:
            runs.append([])
        else:
            runs[-1].append(row)
    out: list[str] = []
    for i, run in enumerate(runs):
        column = max((len(code) for code, comment in run if comment), default=0) + 2
        out.extend(code.ljust(column) + comment if comment else code for code, comment in run)
        if i < len(runs) - 1:
            out.append("")
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str, file: str = "<script>") -> str:
    """Parse and format; raises :class:`~hni_dsl.errors.HniSyntaxError` on bad text."""
    return format_script(parse(text, file))

"""The canonical formatter: one spelling for every script.

Rules: single spaces between words, `->`/`<->` without spaces, `; ` between the statements of a one-line
block, 4-space indentation, one statement per line in block form, numbers without leading zeros, class
names quoted only when they must be, at most one blank line in a row and none right after a block header,
comments kept where they were (a trailing comment two spaces after its code). The author's choice of
one-line or block form is kept. ``format(format(s)) == format(s)`` and ``parse(format(s)) == parse(s)``.
"""

from __future__ import annotations

import re

from . import ast
from .parser import KEYWORDS, parse

__all__ = ["format_script", "format_text", "format_class_name", "format_ref", "format_forbid", "format_edit"]

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


def format_forbid(target) -> str:
    """`forbid concept N` for a slot of the edited class, else `forbid REF`."""
    if isinstance(target, ast.Slot):
        return f"forbid concept {target.index}"
    return f"forbid {format_ref(target)}"


def _edge(edge: ast.EdgeSpec) -> str:
    return f"{edge.src.index}{'<->' if edge.both else '->'}{edge.dst.index}"


def format_edit(edit) -> str:
    if isinstance(edit, ast.ReplaceConcept):
        return f"replace concept {edit.slot.index} with {format_ref(edit.target)}"
    if isinstance(edit, ast.AddConcept):
        return f"add concept {format_ref(edit.target)}"
    if isinstance(edit, ast.DropConcept):
        return f"drop concept {edit.slot.index}"
    if isinstance(edit, ast.AddEdge):
        return f"add edge {_edge(edit.edge)}"
    if isinstance(edit, ast.DropEdge):
        return f"drop edge {_edge(edit.edge)}"
    if isinstance(edit, ast.DropAllEdges):
        return "drop edges *"
    if isinstance(edit, ast.ForbidConcept):
        return format_forbid(edit.target)
    raise TypeError(f"not an edit: {edit!r}")


def _lines_of(statement) -> list[tuple[int, int, str]]:
    """(source line, indent level, text) for each output line of one statement."""
    line = statement.span.line
    if isinstance(statement, ast.DefineClass):
        parts = ", ".join(format_ref(p) for p in statement.parts)
        text = (f"define class {format_class_name(statement.cls.name)} from {parts}, "
                f"edges like {format_class_name(statement.edges_like.name)}")
        return [(line, 0, text)]
    if isinstance(statement, ast.ForbidStatement):
        return [(line, 0, format_forbid(statement.target))]
    header = f"class {format_class_name(statement.cls.name)}:"
    if statement.layout.inline:
        return [(line, 0, header + " " + "; ".join(format_edit(e) for e in statement.edits))]
    return [(line, 0, header)] + [(edit.span.line, 1, format_edit(edit)) for edit in statement.edits]


def format_script(script: ast.Script) -> str:
    """Canonical text of a parsed script (comments and blank-line separation come from its trivia)."""
    items: list[tuple[int, int, str, bool]] = []  # (source line, indent, text, is_header)
    block_ranges: list[tuple[int, int]] = []
    for statement in script.statements:
        lines = _lines_of(statement)
        if isinstance(statement, ast.ClassBlock) and not statement.layout.inline:
            # The span's end runs on through trailing newline tokens; the last edit's line is the real end.
            block_ranges.append((statement.span.line, max(edit.span.line for edit in statement.edits)))
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

    # Lines as (code, trailing comment); a blank line is (None, None).
    rows: list[tuple[str | None, str | None]] = []
    previous_header = False
    for index, (line, level, text, is_header) in enumerate(items):
        if rows and not previous_header and (line - 1) in script.trivia.blank_lines:
            rows.append((None, None))
        comment = "  ".join(trailing[line]) if last_index_of_line.get(line) == index and line in trailing else None
        rows.append((INDENT * level + text, comment))
        previous_header = is_header
    return _align_comments(rows)


def _align_comments(rows: list[tuple[str | None, str | None]]) -> str:
    """Join rows; trailing comments line up within each run of lines between blank lines."""
    out: list[str] = []
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and rows[end][0] is not None:
            end += 1
        group = rows[start:end]
        column = max((len(code) for code, comment in group if comment), default=0) + 2
        for code, comment in group:
            out.append(code.ljust(column) + comment if comment else code)
        if end < len(rows):
            out.append("")
        start = end + 1
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str, file: str = "<script>") -> str:
    """Parse and format; raises :class:`~hni_dsl.errors.HniSyntaxError` on bad text."""
    return format_script(parse(text, file))

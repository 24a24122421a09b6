"""Lark's parse -> the typed AST, built while Lark parses (its `transformer=` option): no parse tree and no
second pass over one, which for a long script was a quarter of the time.

Lark runs :class:`AstBuilder` with `keep_all_tokens`, so every rule sees its keywords and newlines and takes its
span from its first and last child: the spans Lark's `propagate_positions` gave the same rules.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from lark import Token, Transformer, Tree

from . import ast
from .class_names import class_name_problem

__all__ = ["AstBuilder", "BadClassName", "bad_names"]

# Spans and the leaf nodes (class names, slots, edges) are built as dicts and validated inside the node that
# holds them, in one pydantic call per node rather than one per span: the same models, a third of the calls.
_Part = dict[str, Any]


def _span(token: Token) -> _Part:
    # A token's position is optional in Lark's types; every token the lexer makes has one.
    return {
        "line": token.line or 0,
        "column": token.column or 0,
        "end_line": token.end_line or 0,
        "end_column": token.end_column or 0,
    }


def _start(child: Token | _Part | ast.Node) -> tuple[int, int]:
    if isinstance(child, Token):
        return child.line or 0, child.column or 0
    if isinstance(child, dict):
        return child["span"]["line"], child["span"]["column"]
    return child.span.line, child.span.column


def _end(child: Token | _Part | ast.Node) -> tuple[int, int]:
    if isinstance(child, Token):
        return child.end_line or 0, child.end_column or 0
    if isinstance(child, dict):
        return child["span"]["end_line"], child["span"]["end_column"]
    return child.span.end_line, child.span.end_column


def _between(first: Token | _Part | ast.Node, last: Token | _Part | ast.Node) -> _Part:
    """From the start of ``first`` to the end of ``last``: a rule's span, as Lark's propagate_positions gave it
    (keyword tokens and the closing newline included; a missing position, as on a dedent at the end, is 0)."""
    (line, column), (end_line, end_column) = _start(first), _end(last)
    return {"line": line, "column": column, "end_line": end_line, "end_column": end_column}


def _nodes(children: list[Any]) -> list[Any]:
    """The children that are not tokens: the parser keeps every token, so the rules can see their positions."""
    return [child for child in children if not isinstance(child, Token)]


def _unquote(token: Token) -> str:
    text = str(token)
    if token.type != "STRING":
        return text
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# Each edit node by its kind, which is also the name of its grammar rule.
_EDIT_NODES: dict[str, type[ast.Node]] = {
    node.model_fields["kind"].default: node for node in typing.get_args(typing.get_args(ast.Edit)[0])
}
_EDIT_FIELDS = {kind: [n for n in node.model_fields if n not in ("kind", "span")] for kind, node in _EDIT_NODES.items()}
_INLINE, _BLOCK = ast.Layout(inline=True), ast.Layout(inline=False)  # frozen: one of each serves every block


class BadClassName(Exception):
    """A class name the language does not allow (code E006), with its position."""

    def __init__(self, line: int, column: int, length: int, message: str):
        super().__init__(message)
        self.line, self.column, self.length, self.message = line, column, length, message


_bad_names: ContextVar[list[BadClassName]] = ContextVar("hni_bad_names")


@contextmanager
def bad_names() -> Iterator[list[BadClassName]]:
    """The bad class names met while parsing inside the block, in source order. The parser raises the first only
    once the whole parse has succeeded, so a syntax error anywhere still wins (as it did when the tree was
    built first and turned into the AST after)."""
    found: list[BadClassName] = []
    reset = _bad_names.set(found)
    try:
        yield found
    finally:
        _bad_names.reset(reset)


class AstBuilder(Transformer[Token, Any]):
    """Builds the AST while Lark parses (its `transformer=`): no parse tree, no second pass. Lark runs it with
    `keep_all_tokens`, so each rule sees its keywords and newlines and takes its span from its first and last
    child."""

    def start(self, children: list[Any]) -> tuple[ast.Statement, ...]:
        return tuple(_nodes(children))

    def class_name(self, children: list[Token]) -> _Part:
        (token,) = children
        name = _unquote(token)
        problem = class_name_problem(name)
        if problem is not None:
            _bad_names.get().append(BadClassName(token.line or 1, token.column or 1, len(token), problem))
        return {"name": name, "span": _span(token)}

    def slot(self, children: list[Token]) -> _Part:
        (token,) = children
        return {"index": int(token), "span": _span(token)}

    def edge(self, children: list[Any]) -> _Part:
        src, arrow, dst = children
        return {"src": src, "dst": dst, "both": str(arrow) == "<->", "span": _between(src, dst)}

    def own_pool_ref(self, children: list[Token]) -> ast.OwnPoolRef:
        pool, _open, index, close = children
        return ast.OwnPoolRef.model_validate({"index": int(index), "span": _between(pool, close)})

    def class_pool_ref(self, children: list[Any]) -> ast.ClassPoolRef:
        owner, _dot, _pool, _open, index, close = children
        return ast.ClassPoolRef.model_validate({"owner": owner, "index": int(index), "span": _between(owner, close)})

    def class_slot_ref(self, children: list[Any]) -> ast.ClassSlotRef:
        owner, _dot, slot = children
        span = _between(owner, slot)
        return ast.ClassSlotRef.model_validate({"owner": owner, "slot": int(str(slot)[1:]), "span": span})

    def forbid_target(self, children: list[Any]) -> ast.Slot:
        _concept, slot = children  # `concept N`; a bare concept reference is inlined by the grammar's `?`
        return ast.Slot.model_validate(slot)  # a node, not a dict: the target's type tells the kinds apart

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        # An edit rule is aliased to its node's kind (`-> drop_edge`) and its children come in the node's field
        # order, so one builder makes every edit: a new edit kind needs nothing here.
        node = _EDIT_NODES.get(str(data))
        if node is None:
            return Tree(data, children, meta)  # Lark's default; its helper rules (`_x`) are inlined by Lark
        fields = dict(zip(_EDIT_FIELDS[data], _nodes(children), strict=True))
        return node.model_validate({**fields, "span": _between(children[0], children[-1])})

    def edit_line(self, children: list[Any]) -> list[ast.Edit]:
        return _nodes(children)

    def class_inline(self, children: list[Any]) -> ast.ClassBlock:
        cls, edits = _nodes(children)
        span = _between(children[0], children[-1])
        return ast.ClassBlock.model_validate({"cls": cls, "edits": tuple(edits), "layout": _INLINE, "span": span})

    def class_block(self, children: list[Any]) -> ast.ClassBlock:
        cls, *lines = _nodes(children)
        edits = tuple(edit for line in lines for edit in line)
        span = _between(children[0], children[-1])
        return ast.ClassBlock.model_validate({"cls": cls, "edits": edits, "layout": _BLOCK, "span": span})

    def define(self, children: list[Any]) -> ast.DefineClass:
        cls, *parts, like = _nodes(children)
        span = _between(children[0], children[-1])
        return ast.DefineClass.model_validate({"cls": cls, "parts": tuple(parts), "edges_like": like, "span": span})

    def forbid_statement(self, children: list[Any]) -> ast.ForbidStatement:
        forbid, target, _nl = children
        # From `forbid` to the end of its target: the rule's own span runs on over the newline.
        return ast.ForbidStatement.model_validate({"target": target, "span": _between(forbid, target)})

"""Each statement kind is declared once: every stage's table has exactly one entry for every kind."""

from __future__ import annotations

import typing

import pytest
from lark import Lark

from hni_dsl import ast
from hni_dsl import transforms as tf
from hni_dsl.block_check import EDIT_RULES
from hni_dsl.checker import STATEMENT_RULES
from hni_dsl.formatter import EDIT_FORMATS, STATEMENT_FORMATS, format_edit
from hni_dsl.parser import KEYWORDS, grammar_text


def kinds(union: object) -> set[type]:
    """The node types of an annotated, discriminated union such as ``ast.Edit``."""
    (members, *_) = typing.get_args(union)
    return set(typing.get_args(members))


def test_every_edit_kind_has_one_checker_rule_and_one_format():
    edits = kinds(ast.Edit)
    assert set(EDIT_RULES) == edits
    assert set(EDIT_FORMATS) == edits


def test_every_top_level_statement_kind_has_one_checker_rule_and_one_format():
    statements = kinds(ast.Statement)
    assert set(STATEMENT_RULES) == statements
    assert set(STATEMENT_FORMATS) == statements


@pytest.mark.parametrize("kind", sorted(kinds(tf.Transform), key=lambda k: k.__name__))
def test_every_transform_kind_says_what_it_does_and_how_it_reads(kind):
    own = vars(kind)  # declared in the kind's own class, not inherited from the base
    assert "show" in own
    assert ("create" if kind.creates_class else "apply") in own


def test_format_edit_refuses_what_is_not_an_edit():
    with pytest.raises(TypeError, match="not an edit"):
        format_edit(ast.ClassRef(name="A"))


def test_every_edit_kind_is_the_grammar_rule_of_the_same_name():
    grammar = grammar_text()
    for node in kinds(ast.Edit):
        assert f"-> {node.model_fields['kind'].default}" in grammar, node


def test_keywords_are_read_from_the_grammar():
    """KEYWORDS holds the words of the grammar's terminals as Lark reads them: no more, no fewer."""
    terminals = [t.pattern for t in Lark(grammar_text(), parser="lalr").terminals]
    words = {p.value for p in terminals if p.type == "str" and p.value.isalpha()}
    words |= {p.value.removesuffix("\\b") for p in terminals if p.type == "re" and p.value.endswith("\\b")}
    assert KEYWORDS == words
    assert {"class", "define", "replace", "drop", "forbid", "pool"} <= KEYWORDS

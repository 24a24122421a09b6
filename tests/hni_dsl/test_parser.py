"""Parser: every statement form, positions, trivia, and errors as the project's own exceptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hni_dsl import HniSyntaxError, ast, parse

DSL_CONTRACT_EXAMPLES = """\
class fire_engine: replace concept 2 with pool[7]; drop edge 2->4
class ambulance:
    replace concept 3 with pool[5]
    replace concept 4 with school_bus.pool[2]
    drop edge 1->3
    drop edge 2<->4
    add edge 1->2
class tank: drop edges *
class zebra:
    add concept pool[6]
    drop concept 1
define class I from A.c1, E.c2, C.c3, edges like D
define class "toy truck" from A.c1, B.pool[4], C.c2, edges like B
"""


def test_every_contract_statement_parses_to_its_meaning():
    script = parse(DSL_CONTRACT_EXAMPLES)
    fire, amb, tank, zebra, define_i, define_toy = script.statements
    assert fire.cls.name == "fire_engine" and fire.layout.inline
    replace, drop = fire.edits
    assert replace == ast.ReplaceConcept(slot=ast.Slot(index=2), target=ast.OwnPoolRef(index=7))
    assert drop == ast.DropEdge(edge=ast.EdgeSpec(src=ast.Slot(index=2), dst=ast.Slot(index=4)))
    assert [e.kind for e in amb.edits] == ["replace_concept", "replace_concept", "drop_edge", "drop_edge", "add_edge"]
    assert amb.edits[1].target == ast.ClassPoolRef(owner=ast.ClassRef(name="school_bus"), index=2)
    assert amb.edits[3].edge.both and not amb.edits[2].edge.both
    assert tank.edits == (ast.DropAllEdges(),)
    assert zebra.edits == (ast.AddConcept(target=ast.OwnPoolRef(index=6)), ast.DropConcept(slot=ast.Slot(index=1)))
    assert define_i.cls.name == "I" and define_i.edges_like.name == "D"
    assert define_i.parts[1] == ast.ClassSlotRef(owner=ast.ClassRef(name="E"), slot=2)
    assert define_toy.cls.name == "toy truck"
    assert define_toy.parts[1] == ast.ClassPoolRef(owner=ast.ClassRef(name="B"), index=4)


def test_positions_are_one_based_and_point_at_tokens():
    script = parse("class ambulance:\n    replace concept 3 with pool[5]\n")
    edit = script.statements[0].edits[0]
    assert (edit.span.line, edit.span.column) == (2, 5)
    assert (edit.slot.span.line, edit.slot.span.column) == (2, 21)
    assert (edit.target.span.column, edit.target.span.end_column) == (28, 35)
    assert script.statements[0].cls.span.column == 7


def test_statement_spans_run_from_the_first_keyword_over_the_newline():
    # The AST is built while Lark parses, so each rule's span comes from its first and last token, as Lark's
    # propagate_positions gave it: a statement's span includes its closing newline (and the next indent).
    inline, block, define, forbid = parse(
        "class a: drop edge 1->2\nclass b:\n  drop edges *\ndefine class c from a.c1, edges like b\nforbid pool[3]\n"
    ).statements
    assert (inline.span.line, inline.span.column, inline.span.end_line, inline.span.end_column) == (1, 1, 2, 1)
    assert (inline.edits[0].span.column, inline.edits[0].span.end_column) == (10, 24)
    assert (block.span.line, block.span.column, block.span.end_line, block.span.end_column) == (2, 1, 4, 1)
    assert (define.span.line, define.span.end_line, define.span.end_column) == (4, 5, 1)
    assert (forbid.span.line, forbid.span.column, forbid.span.end_line, forbid.span.end_column) == (5, 1, 5, 15)


def test_a_syntax_error_anywhere_wins_over_an_earlier_bad_class_name():
    with pytest.raises(HniSyntaxError) as info:
        parse('class " ": drop edges *\nclass x: frobnicate\n')
    assert (info.value.code, info.value.line) == ("E001", 2)
    with pytest.raises(HniSyntaxError) as info:
        parse('class " ": drop edges *\nclass "": drop edges *\n')
    assert (info.value.code, info.value.line, info.value.column) == ("E006", 1, 7)


def test_positions_and_layout_do_not_change_equality():
    one_line = parse("class tank: drop edge 1->2; add edge 2->1  # c")
    block = parse("\n\n# comment\nclass tank:\n        drop edge 1->2\n        add edge 2->1\n")
    assert one_line == block
    assert parse("class tank: drop edges *") != parse("class jeep: drop edges *")


def test_comments_are_kept_with_their_lines():
    script = parse("# head\nclass tank:  # header\n    # inside\n    drop edges *  # tail\n")
    comments = [(c.line, c.text, c.trailing) for c in script.trivia.comments]
    assert comments == [(1, "# head", False), (2, "# header", True), (3, "# inside", False), (4, "# tail", True)]


def test_quoted_names_unescape():
    script = parse(r'class "say \"hi\"": drop edges *')
    assert script.statements[0].cls.name == 'say "hi"'


def test_keywords_can_be_class_names_when_quoted():
    script = parse('class "class": replace concept 1 with "pool".pool[2]')
    assert script.statements[0].cls.name == "class"
    assert script.statements[0].edits[0].target.owner.name == "pool"


def test_forbid_takes_a_slot_or_any_concept_reference():
    script = parse(
        "class tank: forbid concept 2; forbid pool[3]\nclass tank:\n    forbid jeep.pool[1]\n"
        '    drop edge 1->3\n    forbid "toy truck".c4\n'
    )
    inline, block = script.statements
    assert inline.edits == (
        ast.ForbidConcept(target=ast.Slot(index=2)),
        ast.ForbidConcept(target=ast.OwnPoolRef(index=3)),
    )
    assert [e.kind for e in block.edits] == ["forbid_concept", "drop_edge", "forbid_concept"]
    assert block.edits[0].target == ast.ClassPoolRef(owner=ast.ClassRef(name="jeep"), index=1)
    assert block.edits[2].target == ast.ClassSlotRef(owner=ast.ClassRef(name="toy truck"), slot=4)
    forbid = inline.edits[0]
    assert (forbid.span.column, forbid.span.end_column, forbid.target.span.column) == (13, 29, 28)


def test_forbid_outside_a_block_parses_so_the_checker_can_say_where_it_goes():
    (statement,) = parse("forbid tank.pool[3]  # misplaced\n").statements
    assert statement == ast.ForbidStatement(target=ast.ClassPoolRef(owner=ast.ClassRef(name="tank"), index=3))
    span = statement.span
    assert (span.line, span.column, span.end_line, span.end_column) == (1, 1, 1, 20)


def test_forbid_is_a_whole_word_and_a_class_name_after_class():
    with pytest.raises(HniSyntaxError) as info:
        parse("forbidden pool[2]")
    assert info.value.diagnostics[0].message.endswith("found `forbidden`; did you mean `forbid`?")
    assert parse('class forbid: forbid "forbid".c1').statements[0].cls.name == "forbid"


@pytest.mark.parametrize(
    "text, found, hint",
    [
        ("class tank: dropp concept 2", "dropp", "did you mean `drop`?"),
        ("class tank: dropconcept 2", "dropconcept", "write `drop concept`, with a space"),
        ("class tank: add edges 1->2", "edges", "did you mean `edge`?"),
        ("class tank: drop concept2", "concept2", ""),
        ("class tank: replace concept 1 withpool[3]", "withpool", "write `with pool`, with a space"),
    ],
)
def test_a_keyword_is_a_whole_word(text, found, hint):
    """Where no name may follow, a keyword with word characters after it is one wrong word, not the keyword
    and a stray tail: the error names the whole word, where it starts."""
    with pytest.raises(HniSyntaxError) as info:
        parse(text)
    (d,) = info.value.diagnostics
    assert f"found `{found}`" in d.message and d.message.endswith(hint)
    assert d.column == text.index(found) + 1 and d.length == len(found)


def test_words_that_begin_with_a_keyword_are_still_class_names():
    script = parse("class classic: drop edges *\ndefine class poolside from A.c1, B.c2, edges like dropzone")
    assert script.statements[0].cls.name == "classic"
    assert script.statements[1].cls.name == "poolside" and script.statements[1].edges_like.name == "dropzone"


@pytest.mark.parametrize("text, column", [("class tank: forbid edge 1->2", 25), ("forbid tank", 12)])
def test_forbid_without_a_concept_says_what_it_takes(text, column):
    with pytest.raises(HniSyntaxError) as info:
        parse(text)
    (d,) = info.value.diagnostics
    assert (d.code, d.column) == ("E001", column)
    assert "`forbid` names a concept: `forbid concept N`, `forbid pool[N]`" in d.message


def test_empty_and_comment_only_scripts_parse():
    assert parse("").statements == ()
    assert parse("# only a comment\n\n").statements == ()


def test_crlf_line_endings():
    assert parse("class tank:\r\n    drop edges *\r\n") == parse("class tank: drop edges *")


@pytest.mark.parametrize(
    "text, line, column, code",
    [
        ("class X: replace concept 2 pool[7]", 1, 28, "E001"),
        ("class X: drop edge 2-4", 1, 21, "E002"),
        ('class "X: drop edges *', 1, 7, "E003"),
        ("class X:", 1, 9, "E004"),
        ("class X:\n    drop edges *\n  drop edges *\n", 3, 3, "E005"),
    ],
)
def test_syntax_errors_carry_line_column_code(text, line, column, code):
    with pytest.raises(HniSyntaxError) as info:
        parse(text, "s.hni")
    error = info.value
    assert (error.line, error.column, error.code) == (line, column, code)
    assert re.match(rf"s\.hni:{line}:{column}: error\[{code}\]: ", error.render())


def test_syntax_error_messages_use_words_not_grammar_names():
    with pytest.raises(HniSyntaxError) as info:
        parse("class X: drop edge 1->2 foo")
    message = info.value.diagnostics[0].message
    assert "_NL" not in message and "SEMICOLON" not in message
    assert message == "expected `;` or end of line, found `foo`"


def test_grammar_file_is_the_one_used():
    from hni_dsl.parser import grammar_text

    source = Path(__file__).resolve().parents[2] / "grammar" / "hni.lark"
    assert grammar_text() == source.read_text(encoding="utf-8")

"""The canonical formatter."""

from __future__ import annotations

from pathlib import Path

import pytest

from hni_dsl import format, parse
from hni_dsl.formatter import format_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "messy, canonical",
    [
        (
            "class  fire_engine :replace concept 02 with pool[ 7 ];drop edge 2 -> 4;",
            "class fire_engine: replace concept 2 with pool[7]; drop edge 2->4\n",
        ),
        (
            "class tank:\n  drop edges  *\n\n\n\n  add edge 1 <-> 2\n",
            "class tank:\n    drop edges *\n\n    add edge 1<->2\n",
        ),
        (
            'define class "toy truck" from A . c1 ,B.pool[4],C.c2 , edges like "B"',
            'define class "toy truck" from A.c1, B.pool[4], C.c2, edges like B\n',
        ),
        ("class tank:\n\n    drop edges *\n", "class tank:\n    drop edges *\n"),
        ('class "class": drop edges *', 'class "class": drop edges *\n'),
        ("class c1: drop edges *", 'class "c1": drop edges *\n'),
        ("forbid   tank.pool[3]", "forbid tank.pool[3]\n"),
        (
            'class tank:forbid  concept 02;forbid pool[ 3 ] ;forbid jeep . pool[1];forbid "toy truck" . c2',
            'class tank: forbid concept 2; forbid pool[3]; forbid jeep.pool[1]; forbid "toy truck".c2\n',
        ),
        (
            'class tank:\n  forbid   concept 1\n  forbid "jeep".c3\n',
            "class tank:\n    forbid concept 1\n    forbid jeep.c3\n",
        ),
        # real ImageFolder names stay quoted; a quoted identifier loses its quotes
        (
            'define class "jack-o\'-lantern" from "fire engine".c1,"2cv".pool[2], "café".c2, edges like "fire_engine"',
            'define class "jack-o\'-lantern" from "fire engine".c1, "2cv".pool[2], "café".c2, edges like fire_engine\n',
        ),
        ("", ""),
    ],
)
def test_canonical_spelling(messy, canonical):
    assert format_text(messy) == canonical
    assert format_text(canonical) == canonical


def test_comments_stay_where_they_were():
    text = (
        "# header comment\n"
        "class ambulance:   # trailing on the header\n"
        "    # a comment inside the block\n"
        "    drop edge 1->3   # why\n"
        "    add edge 1->2\n"
        "\n"
        "# before the definition\n"
        "define class I from A.c1, edges like D\n"
        "# at the end\n"
    )
    assert format_text(text) == (
        "# header comment\n"
        "class ambulance:    # trailing on the header\n"  # trailing comments align within a run of lines
        "    # a comment inside the block\n"
        "    drop edge 1->3  # why\n"
        "    add edge 1->2\n"
        "\n"
        "# before the definition\n"
        "define class I from A.c1, edges like D\n"
        "# at the end\n"
    )


def test_multiple_statements_on_a_block_line_split_and_keep_their_comment():
    assert format_text("class tank:\n    drop edge 1->2; drop edge 2->1  # both\n") == (
        "class tank:\n    drop edge 1->2\n    drop edge 2->1  # both\n"
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.hni")), ids=lambda p: p.name)
def test_examples_are_canonical(path):
    text = path.read_text()
    assert format_text(text) == text
    assert parse(format(parse(text))) == parse(text)

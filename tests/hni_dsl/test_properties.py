"""Property tests: the parser never fails in any way but its own, formatting is stable and faithful,
checking never mutates the library."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hni_dsl import HniSyntaxError, apply_transforms, check, dump_library, format, parse, parse_library
from hni_dsl.formatter import format_text

# -- arbitrary text -------------------------------------------------------------------------------

VOCABULARY = [
    "class",
    "define",
    "from",
    "edges",
    "edge",
    "like",
    "replace",
    "concept",
    "with",
    "add",
    "drop",
    "pool",
    "forbid",
    "fire_engine",
    "A",
    "D",
    '"toy truck"',
    '"open',
    "[",
    "]",
    "(",
    ".",
    ",",
    ";",
    ":",
    "*",
    "->",
    "<->",
    "-",
    "=>",
    "1",
    "2",
    "07",
    "c1",
    "c",
    "#c",
    "\n",
    "\n    ",
    "\n  ",
    "\n\t",
    " ",
    "\r\n",
    "é",
    "\x00",
    "forbidden",
    "forbid concept",
    "forbid pool[3]",
]
token_soup = st.lists(st.sampled_from(VOCABULARY), max_size=40).map(lambda ts: " ".join(ts))
any_text = st.one_of(st.text(max_size=120), token_soup, token_soup.map(lambda s: s.replace(" ", "")))


@given(any_text)
def test_parser_returns_or_raises_its_own_error_with_a_valid_position(text):
    try:
        parse(text)
    except HniSyntaxError as exc:
        lines = (text if text.endswith("\n") else text + "\n").split("\n")
        for d in exc.diagnostics:
            assert 1 <= d.line <= len(lines), (d, len(lines))
            assert 1 <= d.column <= len(lines[d.line - 1]) + 2, (d, lines[d.line - 1])
            assert d.code.startswith("E0")
        exc.render()  # rendering never fails either


# -- generated valid scripts ----------------------------------------------------------------------

space = st.sampled_from([" ", "  ", "\t", " \t "])
number = st.integers(min_value=0, max_value=40)
class_name = st.one_of(
    st.sampled_from(["fire_engine", "ambulance", "school_bus", "tank", "zebra", "jeep"] + list("ABCDEFGH")),
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    # A quoted name is any printable text but spaces alone (E006 refuses the rest).
    st.text(st.characters(blacklist_characters='\n\r"\\', blacklist_categories=["Cs"]), min_size=1, max_size=8)
    .filter(lambda s: s.isprintable() and s.strip())
    .map(lambda s: '"' + s + '"'),
)


@st.composite
def safe_name(draw):
    from hni_dsl.parser import KEYWORDS

    name = draw(class_name)
    if name in KEYWORDS or (name.startswith("c") and name[1:].isdigit()):
        return f'"{name}"'
    return name


@st.composite
def concept_ref(draw, own=True):
    kind = draw(st.sampled_from(["own", "pool", "slot"] if own else ["pool", "slot"]))
    n = draw(number)
    if kind == "own":
        return f"pool[{n}]"
    owner = draw(safe_name())
    return f"{owner}.pool[{n}]" if kind == "pool" else f"{owner}.c{n}"


@st.composite
def forbid(draw):
    s = draw(space)
    if draw(st.booleans()):
        return f"forbid{s}concept {draw(number)}"
    return f"forbid{s}{draw(concept_ref())}"


@st.composite
def edit(draw):
    kind = draw(st.sampled_from(["replace", "add_c", "drop_c", "add_e", "drop_e", "drop_all", "forbid"]))
    s = draw(space)
    arrow = draw(st.sampled_from(["->", "<->", " -> ", " <-> "]))
    if kind == "replace":
        return f"replace{s}concept {draw(number)} with{s}{draw(concept_ref())}"
    if kind == "add_c":
        return f"add concept{s}{draw(concept_ref())}"
    if kind == "drop_c":
        return f"drop concept {draw(number)}"
    if kind in ("add_e", "drop_e"):
        verb = "add" if kind == "add_e" else "drop"
        return f"{verb} edge {draw(number)}{arrow}{draw(number)}"
    if kind == "forbid":
        return draw(forbid())
    return f"drop{s}edges *"


comment = st.sampled_from(["", "  # note", "\t#x", " # a; b -> c"])


@st.composite
def statement(draw):
    kind = draw(st.sampled_from(["inline", "block", "define", "forbid"]))
    if kind == "forbid":  # outside a block: a checker error, but it parses and formats
        return draw(forbid()) + draw(comment)
    if kind == "define":
        parts = draw(st.lists(concept_ref(own=False), min_size=1, max_size=4))
        return f"define class {draw(safe_name())} from {', '.join(parts)}, edges like {draw(safe_name())}" + draw(
            comment
        )
    edits = draw(st.lists(edit(), min_size=1, max_size=4))
    if kind == "inline":
        return f"class {draw(safe_name())}:{draw(space)}" + "; ".join(edits) + draw(comment)
    indent = draw(st.sampled_from(["    ", "  ", "\t", "        "]))
    lines = [f"class {draw(safe_name())}:" + draw(comment)]
    for e in edits:
        lines.append(indent + e + draw(comment))
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", indent + "# inner"])))
    return "\n".join(lines)


valid_script = st.lists(
    st.tuples(statement(), st.sampled_from(["\n", "\n\n", "\n# between\n", "\n\n\n"])), max_size=6
).map(lambda items: "".join(s + sep for s, sep in items))


@given(valid_script)
def test_format_is_idempotent_and_preserves_meaning(text):
    script = parse(text)
    formatted = format(script)
    assert format_text(formatted) == formatted
    assert parse(formatted) == script
    # comments survive formatting
    assert len(parse(formatted).trivia.comments) == len(script.trivia.comments)


# -- checking against the example library never mutates it ---------------------------------------

LIBRARY_CLASSES = ["fire_engine", "ambulance", "school_bus", "tank", "zebra", "jeep", "A", "B", "C", "D"]


@st.composite
def plausible_edit(draw):
    n = st.integers(min_value=1, max_value=5)
    kind = draw(st.sampled_from(["replace", "add_c", "drop_c", "add_e", "drop_e", "drop_all", "forbid_c", "forbid_r"]))
    if kind == "replace":
        return f"replace concept {draw(n)} with pool[{draw(st.integers(1, 9))}]"
    if kind == "forbid_c":
        return f"forbid concept {draw(n)}"
    if kind == "forbid_r":
        return draw(
            st.sampled_from(
                [
                    f"forbid pool[{draw(st.integers(1, 9))}]",
                    f"forbid {draw(st.sampled_from(LIBRARY_CLASSES))}.c{draw(n)}",
                ]
            )
        )
    if kind == "add_c":
        return f"add concept {draw(st.sampled_from(LIBRARY_CLASSES))}.c{draw(n)}"
    if kind == "drop_c":
        return f"drop concept {draw(n)}"
    if kind in ("add_e", "drop_e"):
        return f"{'add' if kind == 'add_e' else 'drop'} edge {draw(n)}{draw(st.sampled_from(['->', '<->']))}{draw(n)}"
    return "drop edges *"


@st.composite
def plausible_statement(draw):
    if draw(st.integers(0, 4)) == 0:
        parts = draw(
            st.lists(
                st.sampled_from([f"{c}.c{i}" for c in "ABCDEFGH" for i in (1, 2, 3)]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
        return (
            f"define class {draw(st.sampled_from(['I', 'J', 'K']))} from {', '.join(parts)}, edges like "
            f"{draw(st.sampled_from(list('ABCDEFGH')))}"
        )
    edits = draw(st.lists(plausible_edit(), min_size=1, max_size=3))
    return f"class {draw(st.sampled_from(LIBRARY_CLASSES))}: " + "; ".join(edits)


plausible_script = st.lists(plausible_statement(), min_size=1, max_size=4).map("\n".join)


@given(plausible_script)
def test_checking_and_applying_never_mutate_the_library(example_library_for_properties, text):
    library = example_library_for_properties
    before = dump_library(library)
    result = check(parse(text), library)
    assert dump_library(library) == before
    if result.ok:
        after = apply_transforms(library, result.transforms)
        assert after == result.library_after
        assert dump_library(library) == before
        # the result is a valid library: forbidden concepts are in a pool and out of their class's graph
        assert parse_library(dump_library(after)) == after
        for entry in after.classes:
            assert not set(entry.forbidden) & set(entry.graph.nodes)

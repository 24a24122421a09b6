"""The diagnostic codes: stable names for every problem the language reports, each with its explanation.

Codes are stable: scripts and reviewers' CI match on them. ``E0xx`` are syntax errors, ``E1xx`` errors
against the library, ``W2xx`` warnings (legal but suspicious). :func:`explain` prints the long text, as
``rustc --explain`` does::

    >>> print(explain("w201").splitlines()[0])
    W201 (warning): replacing a concept with itself (no change)

Examples refer to the example library, ``examples/library.json`` (fire_engine has 4 slots and 25 pool
concepts, its slot 1 holding ``pool[1]``).
"""

from __future__ import annotations

import textwrap
from enum import StrEnum
from typing import Self

from .errors import HniError, Severity
from .suggest import did_you_mean

__all__ = ["Code", "UnknownCodeError", "explain", "list_codes"]


def _doc(code: str, *, meaning: str, explanation: str, example: str, fix: str) -> tuple[str, str, str, str, str]:
    return code, meaning, explanation, example, fix


class Code(StrEnum):
    """A diagnostic code. Its value is its name (``Code.E104 == "E104"``), so output shows the bare code."""

    meaning: str  # one line
    explanation: str  # what triggers it
    example: str  # a script that has the problem
    fix: str  # how to put it right, continuing "To fix it, "

    def __new__(cls, value: str, meaning: str, explanation: str, example: str, fix: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning, member.explanation, member.example, member.fix = meaning, explanation, example, fix
        return member

    @property
    def severity(self) -> Severity:
        return "warning" if self.value.startswith("W") else "error"

    E001 = _doc(
        "E001",
        meaning="syntax: unexpected token",
        explanation=(
            "A word or symbol stands where the grammar does not allow it: a keyword is missing or "
            "misspelt, a statement has something left over after it, an edit stands outside a `class` "
            "block, or a line is indented that is not part of a block."
        ),
        example="class fire_engine: replace concept 2 pool[7]",
        fix=(
            "write what the message says is expected here (`expected `with`, found `pool``); for a misspelt "
            "keyword it suggests the closest one."
        ),
    )
    E002 = _doc(
        "E002",
        meaning="syntax: unexpected character",
        explanation=(
            "A character that starts no word or symbol of the language, such as `$`, or a `-` or `=` that "
            "does not form an arrow."
        ),
        example="class fire_engine: drop edge 2-4",
        fix="remove the character, or write the symbol meant: an edge is `A->B` or `A<->B`.",
    )
    E003 = _doc(
        "E003",
        meaning="syntax: unterminated string",
        explanation='A quoted class name (`"fire engine"`) has no closing `"` on the same line.',
        example='class "fire engine: drop edges *',
        fix='close the name with `"` before the end of the line; inside it write `\\"` for a quote.',
    )
    E004 = _doc(
        "E004",
        meaning="syntax: unexpected end of script",
        explanation="The script ends in the middle of a statement, e.g. after a `class NAME:` header with no edits.",
        example="class fire_engine:",
        fix="finish the statement: give the block its indented edits (or write them after the colon).",
    )
    E005 = _doc(
        "E005",
        meaning="syntax: inconsistent indentation",
        explanation=(
            "A line is indented less than the block it is in, but not as little as any enclosing one, so "
            "it belongs to no block."
        ),
        example="class ambulance:\n    drop edge 1->3\n  add edge 1->2",
        fix="indent every line of a block by the same amount (the message names the columns that fit).",
    )
    E006 = _doc(
        "E006",
        meaning="syntax: a quoted class name that cannot be a class name",
        explanation=(
            'A quoted class name is empty (`""`), only spaces, or holds a control character (an escape, a '
            "carriage return, a tab, a bidirectional override): no class can be called that, and such a "
            "name would print as something other than what it is."
        ),
        example='define class "" from fire_engine.pool[1], edges like fire_engine',
        fix="write the class's name: letters, digits, spaces and punctuation, at least one of them not a space.",
    )
    E010 = _doc(
        "E010",
        meaning="`forbid` outside a class block",
        explanation=(
            "`forbid` names a concept that one class must not rely on, so it belongs in that class's "
            "block; at the top level it names no class."
        ),
        example="forbid fire_engine.pool[2]",
        fix=(
            "move it into the block of the class that must not rely on the concept: `class ambulance: forbid "
            "fire_engine.pool[2]`."
        ),
    )
    E101 = _doc(
        "E101",
        meaning="unknown class",
        explanation=(
            "A class name (a block's class, the owner in `OTHER.pool[N]` or `OTHER.cN`, or `edges like "
            "D`) is not in the library, nor defined by an earlier statement of the script."
        ),
        example="class fire_engin: drop edges *",
        fix=(
            "write a class of the library (`hni show` lists them); the message suggests the closest name. Names "
            'that are not identifiers are quoted: `"fire engine"`.'
        ),
    )
    E102 = _doc(
        "E102",
        meaning="concept slot out of range",
        explanation=(
            "`concept N`, an edge endpoint or `OTHER.cN` names a slot the c-SCG does not have. Slots are "
            "numbered from 1 as `hni show CLASS` prints them; inside a block they refer to the graph "
            "before the block, so a slot that `add concept` appends cannot be edited in the same block."
        ),
        example="class fire_engine: replace concept 9 with pool[1]",
        fix="use a slot in the range the message gives, or edit an added slot in a later block of the class.",
    )
    E103 = _doc(
        "E103",
        meaning="a concept reference needs a class here",
        explanation=(
            "`pool[N]` means the edited class's own pool, but a `define` has no such class yet: each of "
            "its parts must name the class it comes from."
        ),
        example="define class I from pool[3], E.c2, edges like D",
        fix="name the class: `A.pool[3]` or `A.c1`.",
    )
    E104 = _doc(
        "E104",
        meaning="pool index out of range",
        explanation=(
            "`pool[N]` or `OTHER.pool[N]` names a rank the class's concept pool does not have. Pools are "
            "ranked by importance and numbered from 1 as `hni show CLASS --pool` prints them; a defined "
            "(zero-shot) class has no pool at all."
        ),
        example="class fire_engine: replace concept 2 with pool[31]",
        fix="use a rank in the range the message gives, or name another class's concept (`A.pool[1]`).",
    )
    E105 = _doc(
        "E105",
        meaning="edge does not exist",
        explanation=(
            "`drop edge A->B` (or `A<->B`) names an edge the c-SCG does not have, in either direction asked for."
        ),
        example="class fire_engine: drop edge 2->3",
        fix="drop one of the existing edges, which the message lists, or remove the statement.",
    )
    E106 = _doc(
        "E106",
        meaning="edge already exists",
        explanation="`add edge A->B` names an edge the c-SCG already has (in both directions, for `<->`).",
        example="class fire_engine: add edge 2->4",
        fix="remove the statement, or add an edge that is missing.",
    )
    E107 = _doc(
        "E107",
        meaning="concept appears twice in one graph",
        explanation=(
            "A concept may hold only one slot of a c-SCG: `add concept` or `replace` would put in a "
            "concept that is already there (or that the block adds twice), or a `define` lists the same "
            "concept twice, perhaps under two names (`A.c1` and `A.pool[1]`)."
        ),
        example="class fire_engine: replace concept 3 with pool[1]",
        fix="name a concept that is not in the graph yet, or drop or replace the slot that holds it first.",
    )
    E108 = _doc(
        "E108",
        meaning="conflicting statements in one block",
        explanation=(
            "The statements of a block are applied together, so each slot and edge may be changed once: "
            "two statements change the same slot, repeat or contradict an edge edit, add an edge to a "
            "slot the block removes, or forbid a concept that the block also puts into the graph."
        ),
        example="class ambulance:\n    replace concept 2 with pool[5]\n    drop concept 2",
        fix=(
            "keep one of the statements, or move the later change into a later block of the class (which sees the "
            "graph as this block leaves it)."
        ),
    )
    E109 = _doc(
        "E109",
        meaning="`define` of a class that already exists",
        explanation=(
            "`define class X` creates a new class, but X is in the library or was defined earlier in the script."
        ),
        example="define class A from B.c1, C.c2, edges like D",
        fix="choose a new name, or change the existing class with a `class X:` block.",
    )
    E110 = _doc(
        "E110",
        meaning="`edges like` a class with too few slots",
        explanation=(
            "A defined class takes D's edges among D's first m slots, one slot per part, so D needs at "
            "least as many slots as there are parts."
        ),
        example="define class I from A.c1, B.c1, C.c1, D.c1, E.c1, edges like F",
        fix="name a class with a larger c-SCG after `edges like`, or list fewer parts.",
    )
    E111 = _doc(
        "E111",
        meaning="an edge from a slot to itself",
        explanation="Edges join two different slots; `A->A` is not an edge.",
        example="class fire_engine: add edge 2->2",
        fix="name two different slots.",
    )
    E112 = _doc(
        "E112",
        meaning="a block would leave a graph with no concepts",
        explanation="After the block, the class's c-SCG would have no slots left; a c-SCG needs at least one concept.",
        example="class tank:\n    drop concept 1\n    drop concept 2\n    drop concept 3\n    drop concept 4",
        fix="keep or replace at least one concept (`replace concept 1 with pool[5]`) instead of dropping them all.",
    )
    E113 = _doc(
        "E113",
        meaning="a concept forbidden for the class put (back) into its graph",
        explanation=(
            "A concept forbidden for a class (in the library, or by an earlier block) may not return to "
            "its c-SCG through `add concept` or `replace`."
        ),
        example="class ambulance: forbid concept 3\nclass ambulance: add concept pool[3]",
        fix=(
            "name another concept. A forbidden concept stays forbidden: remove the `forbid` instead if the class "
            "may rely on it after all."
        ),
    )
    W201 = _doc(
        "W201",
        meaning="replacing a concept with itself (no change)",
        explanation=(
            "`replace concept N with REF` where REF is the concept slot N already holds; the statement does nothing."
        ),
        example="class fire_engine: replace concept 1 with pool[1]",
        fix="remove the statement, or name the concept you meant (`hni show CLASS --pool` lists the pool).",
    )
    W202 = _doc(
        "W202",
        meaning="redundant statement (already implied by another in the block)",
        explanation=(
            "The statement changes nothing that the block does not already change: `drop edge` beside "
            "`drop edges *` or beside removing one of its slots, or `drop edges *` on a class with no "
            "edges."
        ),
        example="class tank: drop edges *; drop edge 1->2",
        fix="remove the redundant statement.",
    )
    W203 = _doc(
        "W203",
        meaning="`<->` where only one direction applies",
        explanation=(
            "`drop edge A<->B` where only one of the two edges exists, or `add edge A<->B` where one "
            "already exists: only the other direction is changed."
        ),
        example="class fire_engine: drop edge 2<->4",
        fix="write the one direction meant (`A->B`), which says what happens.",
    )
    W204 = _doc(
        "W204",
        meaning="forbidding a concept already forbidden for the class (no change)",
        explanation="`forbid` names a concept the class was forbidden before (in the library, or by an earlier block).",
        example="class ambulance: forbid concept 3\nclass ambulance: forbid pool[3]",
        fix="remove the statement.",
    )


class UnknownCodeError(HniError, LookupError):
    """:func:`explain` was asked about a code the language does not have."""

    def __init__(self, code: str) -> None:
        self.code = code
        hint = did_you_mean(code.strip().upper(), [member.value for member in Code], quote=repr)
        super().__init__(f"unknown diagnostic code {code!r}{hint} (the codes: {', '.join(Code)})")


def explain(code: str) -> str:
    """The long explanation of a diagnostic code (any case), as ``hni check --explain CODE`` prints it.

    Raises :class:`UnknownCodeError` (an :class:`~hni_dsl.errors.HniError`) for a code that does not exist.

    >>> print(explain("E111"))
    E111 (error): an edge from a slot to itself
    <BLANKLINE>
    Edges join two different slots; `A->A` is not an edge.
    <BLANKLINE>
    For example:
    <BLANKLINE>
        class fire_engine: add edge 2->2
    <BLANKLINE>
    To fix it, name two different slots.
    """
    member = Code.__members__.get(code.strip().upper())  # a code's name is its value
    if member is None:
        raise UnknownCodeError(code)
    paragraphs = [
        f"{member.value} ({member.severity}): {member.meaning}",
        textwrap.fill(member.explanation, 100),
        "For example:",
        textwrap.indent(member.example, "    "),
        textwrap.fill("To fix it, " + member.fix, 100),
    ]
    return "\n\n".join(paragraphs)


def list_codes() -> str:
    """Every code with its severity and one-line meaning, one per line (``hni check --explain`` with no code)."""
    return "\n".join(f"{member.value}  {member.severity:<7}  {member.meaning}" for member in Code)

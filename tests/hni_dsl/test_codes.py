"""Diagnostic codes: one enum holds them all, each explained, and every emitter uses it."""

from __future__ import annotations

import ast as pyast
import re
from pathlib import Path

import pytest

import hni_dsl
from hni_dsl import Code, HniError, UnknownCodeError, explain, list_codes, make_plan

PACKAGE = Path(hni_dsl.__file__).resolve().parent
GOLDEN = Path(__file__).resolve().parent / "golden"
CODE_WORD = re.compile(r"\b[EW][0-9]{3}\b")


def test_every_code_written_in_the_package_or_the_goldens_is_in_the_enum():
    texts = [p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")]
    texts += [p.read_text(encoding="utf-8") for p in GOLDEN.rglob("*.expected")]
    texts += [p.read_text(encoding="utf-8") for p in GOLDEN.rglob("*.plan")]
    used = {word for text in texts for word in CODE_WORD.findall(text)}
    assert used, "the scan found no codes at all"
    assert used <= set(Code), f"codes missing from hni_dsl.codes.Code: {sorted(used - set(Code))}"


def test_codes_are_emitted_through_the_enum_not_as_bare_strings():
    bare = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "codes.py":
            continue
        for node in pyast.walk(pyast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, pyast.Constant) and isinstance(node.value, str) and CODE_WORD.fullmatch(node.value):
                bare.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not bare, "use Code.XNNN instead of:\n" + "\n".join(bare)


@pytest.mark.parametrize("code", list(Code), ids=[c.value for c in Code])
def test_each_code_is_documented(code):
    assert code == code.value == code.name  # the value is the bare code, so output and goldens show it
    assert code.meaning.strip() and "\n" not in code.meaning
    assert code.explanation.strip() and code.example.strip() and code.fix.strip()
    assert code.severity == ("warning" if code.name.startswith("W") else "error")


@pytest.mark.parametrize("code", list(Code), ids=[c.value for c in Code])
def test_each_codes_example_has_that_problem(code, example_library):
    outcome = make_plan(example_library, [("example.hni", code.example)])
    found = {d.code for d in outcome.diagnostics}
    assert code in found, (code, found)
    for d in outcome.diagnostics:  # the severity a diagnostic is reported with is its code's
        assert d.severity == Code(d.code).severity


def test_explain_is_case_insensitive_and_says_what_and_how():
    text = explain(" e104 ")
    assert text == explain("E104")
    assert text.startswith("E104 (error): pool index out of range\n")
    assert Code.E104.example in text and "To fix it, " in text


def test_explain_an_unknown_code_names_it_and_the_closest_ones():
    with pytest.raises(UnknownCodeError) as info:
        explain("E1O4")
    message = str(info.value)
    assert "'E1O4'" in message and "did you mean 'E104'?" in message and "W204" in message
    assert isinstance(info.value, HniError) and info.value.code == "E1O4"
    with pytest.raises(HniError, match="unknown diagnostic code 'nonsense'"):
        explain("nonsense")


def test_list_codes_has_one_line_per_code():
    lines = list_codes().splitlines()
    assert [line.split()[0] for line in lines] == [c.value for c in Code]
    assert lines[0] == "E001  error    syntax: unexpected token"

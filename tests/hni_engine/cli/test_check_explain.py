"""`hni check --explain CODE` prints the language's own manual entry; a bad code is a usage error."""

from __future__ import annotations

from hni_dsl.codes import Code, explain
from hni_engine.cli.app import main


def test_explain_prints_the_codes_entry(capsys):
    assert main(["check", "--explain", "w201"]) == 0
    assert capsys.readouterr().out == explain("W201") + "\n"


def test_explain_without_a_code_lists_every_code(capsys):
    assert main(["check", "--explain"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [code.value for code in Code]


def test_an_unknown_code_is_a_usage_error_with_a_hint(capsys):
    assert main(["check", "--explain", "E1O4"]) == 3
    err = capsys.readouterr().err
    assert "unknown diagnostic code 'E1O4'" in err and "did you mean 'E104'" in err

"""Quoted class names that cannot name a class: empty, only spaces, or holding control characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from hni_dsl import HniSyntaxError, make_plan, parse
from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "library.json"

BAD_NAMES = {
    "empty": ('""', "cannot be empty"),
    "spaces": ('"   "', "cannot be only spaces"),
    "tab": ('"\t"', "cannot be only spaces"),
    "escape": ('"red\x1b[31m"', "control character \\x1b"),
    "carriage-return-in-text": ('"a\rb"', "control character \\r"),
    "bidi-override": ('"abc\u202edef"', "control character \\u202e"),
    "nul": ('"a\x00"', "control character \\x00"),
}
WHERE = {
    "define": "define class {} from fire_engine.pool[1], edges like fire_engine\n",
    "class-block": "class {}: drop concept 1\n",
    "reference": "define class x from {}.pool[1], edges like fire_engine\n",
    "edges-like": "define class x from fire_engine.pool[1], edges like {}\n",
}


@pytest.mark.parametrize("where", WHERE.values(), ids=WHERE.keys())
@pytest.mark.parametrize(("name", "said"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_quoted_class_name_is_a_positioned_e006(example_library, where, name, said):
    text = where.format(name)
    with pytest.raises(HniSyntaxError) as info:
        parse(text, "s.hni")
    (d,) = info.value.diagnostics
    assert d.code == "E006" and said in d.message
    assert (d.line, d.column) == (1, text.index(name) + 1)
    outcome = make_plan(example_library, [("s.hni", text)])
    assert outcome.plan is None and [x.code for x in outcome.diagnostics] == ["E006"]


def test_define_empty_class_is_a_diagnostic_not_an_internal_error(tmp_path, capsys):
    script = tmp_path / "s.hni"
    # Raw bytes: "\r" inside the quotes must reach the parser as it is on disk.
    script.write_bytes(b'define class "" from fire_engine.pool[1], edges like fire_engine\n')
    status = main(["check", "--library", str(LIBRARY), str(script)])
    _out, err = capsys.readouterr()
    assert status == 1
    assert err.splitlines()[0] == f"{script}:1:14: error[E006]: a class name cannot be empty"
    assert "validation error" not in err and "Traceback" not in err


def test_plan_refuses_a_blank_class_and_writes_nothing(tmp_path, capsys):
    script = tmp_path / "s.hni"
    script.write_text('define class "  " from fire_engine.pool[1], edges like fire_engine\n')
    status = main(["plan", "--library", str(LIBRARY), str(script), "-o", str(tmp_path / "plan.json")])
    _out, err = capsys.readouterr()
    assert status == 1 and "E006" in err
    assert not (tmp_path / "plan.json").exists()


def test_good_quoted_names_still_parse():
    script = parse('define class "toy truck" from fire_engine.pool[1], edges like "fire_engine"\n')
    assert script.statements[0].cls.name == "toy truck"

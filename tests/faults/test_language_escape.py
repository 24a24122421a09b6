"""Text from input files never reaches the terminal raw: control characters print as visible escapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hni_dsl import Diagnostic, LibraryError, make_plan, parse_library
from hni_dsl.escape import escape
from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "library.json"

# What a terminal acts on: ESC (colours, cursor moves, clear screen), CR (overwrite the line), C1 CSI,
# bidirectional overrides (reorder what is read), BEL, DEL.
CONTROLS = "\x1b\r\x07\x7f\x9b\u202e"
HOSTILE = "\x1b[31m\r\x07\x7f\x9b\u202e"


def assert_safe(text: str) -> None:
    for char in CONTROLS:
        assert char not in text, (char, text)


def test_escape_makes_every_control_visible_and_is_idempotent():
    assert escape("a\x1b[31mb\rc\td\ne") == "a\\x1b[31mb\\rc\\td\\ne"
    assert escape("\x9b\u202e\U000e0001") == "\\x9b\\u202e\\U000e0001"
    assert escape("toy truck é 中") == "toy truck é 中"
    assert escape(escape(HOSTILE)) == escape(HOSTILE)
    assert escape(HOSTILE).isprintable()


def test_diagnostic_headline_and_source_line_are_escaped():
    source = "class fire_engine: replace concept 2 with pool[31]  # \x1b[2J\u202e\n"
    d = Diagnostic("E104", "pool index 31 \x1b[31m", 1, 43, 8, file="ev\x1bil.hni")
    text = d.render(source)
    assert_safe(text)
    headline, line, caret = text.splitlines()
    assert headline.startswith("ev\\x1bil.hni:1:43: error[E104]: pool index 31 \\x1b[31m")
    assert line.endswith("# \\x1b[2J\\u202e")
    assert caret.index("^") == line.index("pool[31]")


def test_caret_stays_under_the_span_after_escapes_before_it():
    source = 'define class "a\x1b" from fire_engine.pool[99], edges like fire_engine\n'
    d = Diagnostic("E104", "out of range", 1, source.index("fire_engine.pool") + 1, len("fire_engine.pool[99]"))
    _headline, line, caret = d.render(source).splitlines()
    assert line[caret.index("^") :].startswith("fire_engine.pool[99]")
    assert caret.count("^") == len("fire_engine.pool[99]")


def test_check_escapes_script_paths_names_and_comments(tmp_path, capsys):
    script = tmp_path / "ev\x1b[31mil\r.hni"
    script.write_text("class fire_engine: replace concept 2 with pool[31]  # \x1b]0;owned\x07\n")
    status = main(["check", "--library", str(LIBRARY), str(script)])
    out, err = capsys.readouterr()
    assert status == 1
    assert_safe(out + err)
    assert "ev\\x1b[31mil\\r.hni:1:43: error[E104]" in err
    assert "\\x1b]0;owned\\x07" in err
    assert out.startswith("error: ") and "ev\\x1b[31mil\\r.hni" in out


def test_missing_script_with_a_hostile_name_is_escaped(tmp_path, capsys):
    status = main(["check", "--library", str(LIBRARY), str(tmp_path / "no\x1b[2Jpe.hni")])
    _out, err = capsys.readouterr()
    assert status != 0
    assert_safe(err)
    assert "no\\x1b[2Jpe.hni: no such script" in err


def test_library_error_escapes_its_path_and_values(tmp_path, capsys):
    data = json.loads(LIBRARY.read_text())
    data["classes"][0]["pool"][0]["label"] = 7  # wrong type: the message shows the value
    data["classes"][0]["pool"][0]["id"] = "fire_engine/\x1b[31mk20"
    library = tmp_path / "li\x1bb.json"
    library.write_text(json.dumps(data))
    script = tmp_path / "s.hni"
    script.write_text("")
    main(["check", "--library", str(library), str(script)])
    _out, err = capsys.readouterr()
    assert_safe(err)
    assert "li\\x1bb.json" in err
    with pytest.raises(LibraryError) as info:
        parse_library(json.dumps(data), "x\r.json")
    assert_safe(str(info.value))


def test_plan_text_escapes_labels_and_paths(tmp_path, capsys):
    data = json.loads(LIBRARY.read_text())
    data["classes"][0]["pool"][6]["label"] = "hose\x1b[8m reel\r"
    library = tmp_path / "lib.json"
    library.write_text(json.dumps(data))
    one, two = tmp_path / "a\x1b.hni", tmp_path / "b\r.hni"
    one.write_text("class fire_engine: replace concept 2 with pool[7]\n")
    two.write_text("class ambulance: drop edge 1->3\n")
    status = main(["plan", "--library", str(library), str(one), str(two)])
    out, err = capsys.readouterr()
    assert status == 2
    assert_safe(out + err)
    assert "hose" in out and "[8m reel" in out
    assert f"# {escape(str(one))}" in out and f"# {escape(str(two))}" in out
    outcome = make_plan(parse_library(json.dumps(data)), [(str(one), one.read_text())])
    assert outcome.plan is not None
    assert_safe(outcome.plan.text)


def test_fmt_messages_escape_paths(tmp_path, capsys):
    script = tmp_path / "x\x1b[2J.hni"
    script.write_text("class  fire_engine :drop edge 2 -> 4\n")
    status = main(["fmt", "--check", str(script)])
    _out, err = capsys.readouterr()
    assert status == 1
    assert_safe(err)
    assert err == f"would reformat {escape(str(script))}\n"
    main(["fmt", "--write", str(script)])
    _out, err = capsys.readouterr()
    assert_safe(err)
    assert err == f"reformatted {escape(str(script))}\n"


def test_fmt_syntax_error_is_escaped(tmp_path, capsys):
    script = tmp_path / "s.hni"
    script.write_text("class fire_engine: dropp edge 2->4  # \x1b[2J\n")
    status = main(["fmt", str(script)])
    _out, err = capsys.readouterr()
    assert status == 1 and "E001" in err
    assert_safe(err)

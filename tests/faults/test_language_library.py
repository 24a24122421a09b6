"""Hostile library files: every number finite and in range, every shape refused in one line, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from hni_dsl import LibraryError, dump_library, library_sha256, parse_library
from hni_engine.cli.app import main
from hni_engine.cli.language_commands import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = json.loads((ROOT / "examples" / "library.json").read_text())


def with_value(where: str, value: object) -> dict:
    """The example library with one field set; ``where`` is a dotted path with list indices as numbers."""
    data = copy.deepcopy(LIBRARY)
    *parents, last = where.split(".")
    node: object = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return data


BAD_NUMBERS = [
    ("classes.0.pool.0.importance", float("nan"), "importance", "nan"),
    ("classes.0.pool.0.importance", float("inf"), "importance", "inf"),
    ("classes.0.pool.0.importance", 1.5, "importance", "1.5"),
    ("classes.0.pool.0.importance", -0.1, "importance", "-0.1"),
    ("classes.0.pool.0.importance", True, "importance", "True"),
    ("classes.0.pool.0.importance", "0.5", "importance", "'0.5'"),
    ("classes.0.pool.0.directional", float("-inf"), "directional", "-inf"),
    ("classes.0.pool.0.directional", float("nan"), "directional", "nan"),
    ("classes.0.pool.0.p_value", float("nan"), "p_value", "nan"),
    ("classes.0.pool.0.p_value", 2, "p_value", "2"),
    ("classes.0.graph.edges.0.weight", float("nan"), "weight", "nan"),
    ("classes.0.graph.edges.0.weight", float("inf"), "weight", "inf"),
    ("classes.0.graph.edges.0.src", True, "src", "True"),
    ("classes.0.output_index", True, "output_index", "True"),
    ("classes.0.output_index", "3", "output_index", "'3'"),
    ("classes.0.output_index", 3.0, "output_index", "3.0"),
    ("classes.0.output_index", -1, "output_index", "-1"),
    ("classes.0.pool.0.images", False, "images", "False"),
]


@pytest.mark.parametrize(
    ("where", "value", "field", "shown"), BAD_NUMBERS, ids=[f"{w}={v!r}" for w, v, *_ in BAD_NUMBERS]
)
def test_bad_number_is_refused_naming_file_field_and_value(where, value, field, shown):
    text = json.dumps(with_value(where, value))
    with pytest.raises(LibraryError) as info:
        parse_library(text, "lib.json")
    message = str(info.value)
    assert message.startswith("lib.json: field 'classes[0] (fire_engine).")
    assert info.value.field is not None and info.value.field.endswith(field)
    assert f"(got {shown})" in message
    assert "\n" not in message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_literals_are_refused(literal):
    text = json.dumps(LIBRARY).replace('"importance": 0.97', f'"importance": {literal}', 1)
    assert literal in text
    with pytest.raises(LibraryError, match=r"pool\[0\]\.importance.*finite"):
        parse_library(text, "lib.json")


def test_nan_in_meta_is_refused_with_its_path():
    # Written out, NaN would come back as null: the library would not be what its sha256 says.
    data = dict(LIBRARY, meta={"tcav": {"runs": [1, float("nan")]}})
    with pytest.raises(LibraryError, match=r"meta\.tcav\.runs\[1\] is not a finite number \(got nan\)"):
        parse_library(json.dumps(data), "lib.json")


def test_a_library_that_loads_writes_back_to_itself():
    library = parse_library(json.dumps(LIBRARY), "lib.json")
    again = parse_library(dump_library(library), "lib.json")
    assert library_sha256(again) == library_sha256(library)


WRONG_SHAPES = {
    "list": "[]",
    "classes-number": '{"format": "hni-library/1", "classes": 3}',
    "classes-of-junk": '{"format": "hni-library/1", "classes": [null, 3, "x"]}',
    "format-list": '{"format": ["hni-library/1"], "classes": []}',
    "format-object": '{"format": {"a": 1}, "classes": []}',
    "string": '"hni-library/1"',
    "deep-array": "[" * 100_000 + "]" * 100_000,
    "deep-meta": '{"format": "hni-library/1", "classes": [], "meta": ' + '{"a":' * 50_000 + "1" + "}" * 50_001,
    "meta-deeper-than-written": json.dumps(
        {"format": "hni-library/1", "classes": [], "meta": json.loads('{"a":' * 500 + "1" + "}" * 500)}
    ),
    "huge-integer": '{"format": "hni-library/1", "classes": [{"name": "a", "output_index": '
    + "9" * 5000
    + ', "graph": {"nodes": []}}]}',
    "blank-class-name": '{"format": "hni-library/1", "classes": '
    '[{"name": "  ", "output_index": 0, "graph": {"nodes": []}}]}',
    "huge-bad-class": '{"format": "hni-library/1", "classes": [{"name": "'
    + "n" * 1_000_000
    + '", "output_index": true, "pool": [], "graph": {"nodes": ["'
    + "x" * 1_000_000
    + '"]}}]}',
    "huge-unknown-key": '{"format": "hni-library/1", "classes": [], "' + "k" * 1_000_000 + '": 1}',
    "escape-in-class-name": '{"format": "hni-library/1", "classes": '
    '[{"name": "\\u001b[2J", "output_index": 0, "graph": {"nodes": []}}]}',
}


@pytest.mark.parametrize("text", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_wrong_shape_is_one_line_exit_usage_and_no_traceback(tmp_path, capsys, text):
    library = tmp_path / "lib.json"
    library.write_text(text)
    script = tmp_path / "empty.hni"
    script.write_text("")
    status = main(["check", "--library", str(library), str(script)])
    out, err = capsys.readouterr()
    assert status == EXIT_USAGE
    assert out == ""
    assert err.startswith(f"hni check: error: {library}: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "\x1b" not in err
    assert len(err) < 2000


def test_bad_number_from_the_command_line_changes_nothing(tmp_path, capsys):
    library = tmp_path / "lib.json"
    text = json.dumps(with_value("classes.0.pool.0.importance", float("nan")))
    library.write_text(text)
    script = tmp_path / "edit.hni"
    script.write_text("class fire_engine: replace concept 2 with pool[7]\n")
    status = main(["plan", "--library", str(library), str(script), "-o", str(tmp_path / "plan.json")])
    _out, err = capsys.readouterr()
    assert status == EXIT_USAGE
    assert "field 'classes[0] (fire_engine).pool[0].importance'" in err and "(got nan)" in err
    assert library.read_text() == text
    assert not (tmp_path / "plan.json").exists()

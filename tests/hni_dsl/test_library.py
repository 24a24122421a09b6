"""The library file: loading, validation errors that name file and field, schema, atomic writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hni_dsl import LibraryError, dump_library, library_sha256, load_library, parse_library, write_library
from hni_dsl.library import library_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "hni_dsl" / "schema" / "hni-library-1.schema.json"


def _example_dict():
    return json.loads((Path(__file__).resolve().parents[2] / "examples" / "library.json").read_text())


def test_example_round_trips(example_library):
    assert parse_library(dump_library(example_library)) == example_library


@pytest.mark.parametrize(
    "mutate, field, fragment",
    [
        (lambda d: d.pop("format"), "format", "missing"),
        (lambda d: d.update(format="hni-library/2"), "format", "unsupported format 'hni-library/2'"),
        (
            lambda d: d["classes"][0]["graph"]["edges"][0].update(src=0),
            "classes[0] (fire_engine).graph.edges[0].src",
            "greater than or equal to 1",
        ),
        (
            lambda d: d["classes"][1]["pool"][0].pop("importance"),
            "classes[1] (ambulance).pool[0].importance",
            "required",
        ),
        (lambda d: d["classes"][2].update(colour="red"), "classes[2] (school_bus).colour", "Extra inputs"),
        (
            lambda d: d["classes"][0]["graph"]["edges"].append({"src": 1, "dst": 9}),
            "classes[0] (fire_engine).graph",
            "names slot 9",
        ),
        (lambda d: d["classes"][1].update(name="fire_engine"), None, "listed twice"),
        (lambda d: d["classes"][1].update(output_index=0), None, "share output_index 0"),
        (lambda d: d["classes"][0]["graph"]["nodes"].__setitem__(0, "nowhere/k1"), None, "in no class's pool"),
        (
            lambda d: d["classes"][4].update(forbidden=["nowhere/k1"]),
            None,
            "class 'tank': forbidden concept 'nowhere/k1' is in no class's pool",
        ),
        (
            lambda d: d["classes"][4].update(forbidden=["jeep/k03", "jeep/k03"]),
            "classes[4] (tank)",
            "class 'tank': forbidden lists concept 'jeep/k03' more than once",
        ),
        (
            lambda d: d["classes"][4].update(forbidden=["tank/k33"]),
            "classes[4] (tank)",
            "class 'tank': concept 'tank/k33' is forbidden, but its c-SCG holds it at slot 2",
        ),
        (lambda d: d["classes"][4].update(forbidden="tank/k33"), "classes[4] (tank).forbidden", "valid tuple"),
    ],
)
def test_malformed_library_names_file_and_field(mutate, field, fragment):
    data = _example_dict()
    mutate(data)
    with pytest.raises(LibraryError) as info:
        parse_library(json.dumps(data), "concepts/library.json")
    assert info.value.path == "concepts/library.json"
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith("concepts/library.json: ")


def test_an_existing_library_keeps_its_exact_text_and_sha256():
    # `forbidden` is left out when empty, so files written before it existed load and dump unchanged.
    path = Path(__file__).resolve().parents[2] / "examples" / "library.json"
    text = path.read_text(encoding="utf-8")
    library = parse_library(text)
    assert '"forbidden"' not in text and all(entry.forbidden == () for entry in library.classes)
    assert dump_library(library) == text
    assert library_sha256(library) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_forbidden_is_written_when_set_and_round_trips():
    data = _example_dict()
    data["classes"][4]["forbidden"] = ["jeep/k03", "tank/k34"]
    library = parse_library(json.dumps(data))
    assert library.get("tank").forbidden == ("jeep/k03", "tank/k34")
    dumped = json.loads(dump_library(library))
    assert dumped["classes"][4]["forbidden"] == ["jeep/k03", "tank/k34"]
    assert "forbidden" not in dumped["classes"][0]
    assert list(dumped["classes"][4])[-1] == "forbidden"
    assert parse_library(dump_library(library)) == library


def test_not_json_and_not_an_object(tmp_path):
    bad = tmp_path / "library.json"
    bad.write_text("{ not json")
    with pytest.raises(LibraryError, match=r"library\.json: not valid JSON"):
        load_library(bad)
    bad.write_text("[]")
    with pytest.raises(LibraryError, match="top level must be a JSON object"):
        load_library(bad)
    with pytest.raises(LibraryError, match="no such file"):
        load_library(tmp_path / "missing.json")


def test_published_schema_is_current():
    published = json.loads(SCHEMA_FILE.read_text())
    assert published == library_schema(), "regenerate: python -m hni_dsl.schema"


def test_schema_accepts_the_example_and_rejects_a_bad_one():
    jsonschema = pytest.importorskip("jsonschema")
    schema = library_schema()
    jsonschema.validate(_example_dict(), schema)
    forbidding = _example_dict()
    forbidding["classes"][4]["forbidden"] = ["jeep/k03"]
    jsonschema.validate(forbidding, schema)
    forbidding["classes"][4]["forbidden"] = ["jeep/k03", "jeep/k03"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(forbidding, schema)
    bad = _example_dict()
    bad["classes"][0]["graph"]["edges"][0]["src"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, example_library, monkeypatch):
    target = tmp_path / "concepts" / "library.json"
    write_library(example_library, target)
    assert load_library(target) == example_library
    original = target.read_bytes()

    from hni_dsl import fileio

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", boom)
    with pytest.raises(OSError):
        write_library(example_library.with_applied(()), target)
    assert target.read_bytes() == original
    assert [p.name for p in target.parent.iterdir()] == ["library.json"]


def test_a_one_concept_change_is_a_one_line_diff(example_library):
    """library.json diffs like code: each pool concept, edge and applied script sits on a line of its own."""
    import difflib

    entry = example_library.classes[0]
    changed = entry.pool[1].model_copy(update={"label": "ladder", "importance": 0.123})
    pool = (entry.pool[0], changed, *entry.pool[2:])
    relabelled = example_library.with_class(entry.model_copy(update={"pool": pool}))
    before, after = dump_library(example_library).splitlines(), dump_library(relabelled).splitlines()
    changes = [d for d in difflib.unified_diff(before, after, lineterm="", n=0) if d[:1] in "+-"][2:]
    assert len(changes) == 2 and changes[0].startswith("-") and changes[1].startswith("+")
    assert '"label": "ladder"' in changes[1] and f'"id": "{changed.id}"' in changes[1]

    edges = entry.graph.edges
    assert edges, "the example's first class has edges"
    graph = entry.graph.model_copy(update={"edges": edges[1:]})
    lines = dump_library(example_library.with_class(entry.model_copy(update={"graph": graph}))).splitlines()
    removed = [d for d in difflib.unified_diff(before, lines, lineterm="", n=0) if d[:1] in "+-"][2:]
    assert [d[0] for d in removed] == ["-"] and f'"src": {edges[0].src}, "dst": {edges[0].dst}' in removed[0]

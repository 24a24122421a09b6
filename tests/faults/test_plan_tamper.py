"""Case 1: a saved plan applies exactly what its scripts say, or nothing (the reviewed text is the law)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_dsl import PlanMismatchError, StalePlanError, apply_plan, make_plan
from hni_dsl.plan import Plan
from hni_engine.cli.app import main

from .checks import tree_digest

EDIT_A = "class fire_engine: replace concept 2 with pool[7]; drop edge 2->4\n"
EDIT_C = "class tank: drop edges *\n"


def _tampered(plan: Plan, **fields) -> Plan:
    data = json.loads(plan.model_dump_json())
    data.update(fields)
    return Plan.model_validate(data)


@pytest.fixture
def plans(example_library):
    a = make_plan(example_library, [("a.hni", EDIT_A)], "lib.json").plan
    c = make_plan(example_library, [("a.hni", EDIT_C)], "lib.json").plan
    return a, c


def test_transforms_of_another_edit_are_refused(example_library, plans):
    a, c = plans
    # Everything but the text a reviewer reads says C: transforms, counts and the promised library hash.
    c_data = json.loads(c.model_dump_json())
    forged = _tampered(a, **{k: c_data[k] for k in ("transforms", "summary", "library_after_sha256")})
    with pytest.raises(PlanMismatchError, match="transforms"):
        apply_plan(example_library, forged, {"a.hni": EDIT_A})


def test_edited_text_summary_or_hash_is_refused(example_library, plans):
    a, c = plans
    for field, value in [
        ("text", c.text),
        ("summary", c.summary),
        ("library_after_sha256", c.library_after_sha256),
    ]:
        with pytest.raises(PlanMismatchError, match=field):
            apply_plan(example_library, _tampered(a, **{field: value}), {"a.hni": EDIT_A})


def test_script_swapped_with_matching_hash_is_refused(example_library, plans):
    # The script text and its recorded hash both say C, the transforms and text say A: C's text is
    # what was reviewed last, so nothing that disagrees with it may apply.
    a, c = plans
    forged = _tampered(a, scripts=json.loads(c.model_dump_json())["scripts"])
    with pytest.raises(PlanMismatchError):
        apply_plan(example_library, forged, {"a.hni": EDIT_C})


def test_a_plan_without_its_scripts_cannot_be_applied(example_library, plans):
    a, _ = plans
    with pytest.raises(StalePlanError, match="missing"):
        apply_plan(example_library, a, {})


def test_an_untouched_plan_applies(example_library, plans):
    a, _ = plans
    after = apply_plan(example_library, a, {"a.hni": EDIT_A})
    assert after == make_plan(example_library, [("a.hni", EDIT_A)]).library_after


@pytest.fixture
def planning_ws(tiny_extracted, tmp_path, monkeypatch):
    """A copy of the tiny workspace as the current folder, with a.hni dropping a class's edges; (ws, class)."""
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws)
    monkeypatch.chdir(ws)
    library = json.loads((ws / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if e["graph"]["edges"])
    Path("a.hni").write_text(f"class {name}: drop edges *\n")
    return ws, name


def test_hni_apply_refuses_a_forged_plan_file(planning_ws, capsys):
    ws, name = planning_ws
    Path("c.hni").write_text(f"class {name}: drop concept 1\n")
    assert main(["plan", "a.hni", "-o", "a.json"]) == 2
    assert main(["plan", "c.hni", "-o", "c.json"]) == 2
    a, c = json.loads(Path("a.json").read_text()), json.loads(Path("c.json").read_text())
    for key in ("transforms", "summary", "library_after_sha256"):
        a[key] = c[key]
    Path("a.json").write_text(json.dumps(a))
    before = tree_digest(ws, skip=(".hni",))
    capsys.readouterr()
    assert main(["apply", "a.json", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "transforms" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert tree_digest(ws, skip=(".hni",)) == before
    assert not (ws / "runs").exists()


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        "[]",
        '{"format": "hni-plan/1"}',
        '{"format": "hni-plan/1", "library": "x", "library_sha256": "0", "library_after_sha256": "0", '
        '"scripts": 3, "transforms": [], "summary": {}, "text": ""}',
        '{"format": "hni-plan/9"}',
        "\x1b[2J",
    ],
)
def test_a_plan_file_that_is_not_a_plan_is_one_line(tiny_extracted, tmp_path, capsys, text):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws)
    plan = tmp_path / "p.json"
    plan.write_text(text)
    before = tree_digest(ws, skip=(".hni",))
    assert main(["-w", str(ws), "apply", str(plan), "--device", "cpu"]) in (1, 3)
    err = capsys.readouterr().err
    assert "not an hni plan" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "\x1b" not in err
    assert tree_digest(ws, skip=(".hni",)) == before


def test_a_plan_naming_a_device_as_its_script_is_refused_unread(planning_ws, capsys):
    assert main(["plan", "a.hni", "-o", "a.json"]) == 2
    plan = json.loads(Path("a.json").read_text())
    plan["scripts"][0]["path"] = "/dev/zero"  # reading it would never end
    Path("a.json").write_text(json.dumps(plan))
    capsys.readouterr()
    assert main(["apply", "a.json", "--device", "cpu"]) == 1
    assert "/dev/zero is not a readable file" in capsys.readouterr().err

"""Plans: bound to their inputs, no-op on re-apply, nothing on error."""

from __future__ import annotations

import json

import pytest

from hni_dsl import StalePlanError, apply_plan, dump_library, library_sha256, make_plan
from hni_dsl.plan import Plan, text_sha256

NODE_EDIT = "class fire_engine: replace concept 2 with pool[7]; drop edge 2->4\n"


def test_plan_json_carries_transforms_and_hashes(example_library):
    outcome = make_plan(example_library, [("edit.hni", NODE_EDIT)], "lib.json")
    plan = outcome.plan
    data = json.loads(plan.model_dump_json())
    assert data["format"] == "hni-plan/1"
    assert data["library_sha256"] == library_sha256(example_library)
    assert data["scripts"] == [{"path": "edit.hni", "sha256": text_sha256(NODE_EDIT), "status": "planned"}]
    assert [t["kind"] for t in data["transforms"]] == ["replace_concept", "drop_edge"]
    assert data["summary"]["concepts_replaced"] == 1 and data["summary"]["edges_dropped"] == 1
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def test_applying_a_plan_records_the_script_and_second_time_is_a_no_op(example_library):
    first = make_plan(example_library, [("edit.hni", NODE_EDIT)])
    library = apply_plan(example_library, first.plan, {"edit.hni": NODE_EDIT})
    assert library == first.library_after
    assert [a.sha256 for a in library.applied] == [text_sha256(NODE_EDIT)]
    again = make_plan(library, [("edit.hni", NODE_EDIT)])
    assert not again.plan.has_changes
    assert again.plan.scripts[0].status == "already_applied"
    assert "already applied" in again.plan.text and "No changes." in again.plan.text


def test_stale_plan_is_refused(example_library):
    plan = make_plan(example_library, [("edit.hni", NODE_EDIT)]).plan
    other = make_plan(example_library, [("o.hni", "class tank: drop edges *")]).library_after
    with pytest.raises(StalePlanError, match="library"):
        apply_plan(other, plan, {"edit.hni": NODE_EDIT})
    with pytest.raises(StalePlanError, match=r"edit\.hni changed"):
        apply_plan(example_library, plan, {"edit.hni": NODE_EDIT + "# edited\n"})


def test_a_script_with_an_error_changes_nothing(example_library):
    snapshot = dump_library(example_library)
    good_then_bad = "class tank: drop edges *\nclass tank: drop concept 9\n"
    outcome = make_plan(example_library, [("a.hni", NODE_EDIT), ("b.hni", good_then_bad)])
    assert outcome.plan is None and outcome.library_after is None
    assert [d.code for d in outcome.diagnostics if d.is_error] == ["E102"]
    assert dump_library(example_library) == snapshot


def test_scripts_apply_in_order_like_migrations(example_library):
    define = "define class I from A.c1, E.c2, edges like D\n"
    edit_defined = "class I: add concept C.c3\n"
    outcome = make_plan(example_library, [("1.hni", define), ("2.hni", edit_defined)])
    assert outcome.plan is not None
    assert len(outcome.library_after.get("I").graph.nodes) == 3
    reversed_order = make_plan(example_library, [("2.hni", edit_defined), ("1.hni", define)])
    assert reversed_order.plan is None


def test_empty_script_plans_no_changes(example_library):
    outcome = make_plan(example_library, [("empty.hni", "# nothing yet\n")])
    assert outcome.plan.text == "No changes.\n" and not outcome.plan.has_changes


def test_several_scripts_are_labelled_in_the_plan_text(example_library):
    outcome = make_plan(example_library, [("1.hni", NODE_EDIT), ("2.hni", "class tank: drop edges *\n")])
    text = outcome.plan.text
    assert text.index("# 1.hni") < text.index("~ fire_engine") < text.index("# 2.hni") < text.index("~ tank")


FORBID = "class ambulance: forbid concept 3; forbid school_bus.pool[2]\n"


def test_forbid_plans_counts_and_applies(example_library):
    outcome = make_plan(example_library, [("forbid.hni", FORBID)])
    plan = outcome.plan
    assert plan.summary["concepts_forbidden"] == 2 and plan.summary["edges_dropped"] == 2
    assert plan.summary["concepts_dropped"] == 0
    assert plan.text.splitlines()[1:3] == [
        '    ! forbid concept 3: ambulance/k03 "road" (pool[3]), dropped with its 2 edges',
        '    ! forbid school_bus/k00 "window row" (school_bus.pool[2]): not in the c-SCG',
    ]
    assert plan.text.endswith("1 class changed; 2 concepts forbidden, 2 edges dropped\n")
    data = json.loads(plan.model_dump_json())
    assert [(t["kind"], t["slot"]) for t in data["transforms"]] == [("forbid_concept", 3), ("forbid_concept", None)]
    assert Plan.model_validate_json(plan.model_dump_json()) == plan
    library = apply_plan(example_library, plan, {"forbid.hni": FORBID})
    assert library.get("ambulance").forbidden == ("ambulance/k03", "school_bus/k00")
    assert "ambulance/k03" not in library.get("ambulance").graph.nodes
    assert library_sha256(library) == plan.library_after_sha256


def test_plans_without_forbid_do_not_mention_it(example_library):
    text = make_plan(example_library, [("edit.hni", NODE_EDIT)]).plan.text
    assert "forbid" not in text

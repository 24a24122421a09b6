"""Checker and transforms: the meaning of each statement, and purity."""

from __future__ import annotations

import pytest

from hni_dsl import HniSemanticError, apply_transforms, check, compile, dump_library, parse
from hni_dsl.transforms import DropEdge, ReplaceConcept, TransformError


def _after(library, text):
    result = check(parse(text), library)
    assert result.ok, result.diagnostics
    return result.library_after


def test_replace_keeps_the_slot_and_its_edges(example_library):
    before = example_library.get("fire_engine")
    after = _after(example_library, "class fire_engine: replace concept 2 with pool[7]").get("fire_engine")
    assert after.graph.nodes[1] == before.pool[6].id
    assert after.graph.nodes[0] == before.graph.nodes[0]
    assert after.graph.edges == before.graph.edges


def test_drop_concept_removes_its_edges_and_compacts(example_library):
    before = example_library.get("zebra")  # edges 1->2, 2->3, 1->4
    after = _after(example_library, "class zebra: drop concept 1").get("zebra")
    assert after.graph.nodes == before.graph.nodes[1:]
    assert after.graph.edge_pairs() == [(1, 2)]  # old 2->3, renumbered


def test_add_concept_appends_a_slot_without_edges(example_library):
    before = example_library.get("zebra")
    after = _after(example_library, "class zebra: add concept pool[6]").get("zebra")
    assert after.graph.nodes == before.graph.nodes + (before.pool[5].id,)
    assert after.graph.edges == before.graph.edges


def test_both_directions_and_new_edges_have_no_weight(example_library):
    after = _after(example_library, "class ambulance: drop edge 2<->4; add edge 1->2").get("ambulance")
    pairs = after.graph.edge_pairs()
    assert (2, 4) not in pairs and (4, 2) not in pairs
    assert [e.weight for e in after.graph.edges if (e.src, e.dst) == (1, 2)] == [None]


def test_drop_all_edges_then_readd_in_one_block(example_library):
    after = _after(example_library, "class tank: drop edges *; add edge 1->2").get("tank")
    assert after.graph.edge_pairs() == [(1, 2)]


def test_swap_inside_one_block_is_legal(example_library):
    before = example_library.get("school_bus")
    after = _after(example_library, "class school_bus:\n    replace concept 1 with pool[2]\n    replace concept 2 with pool[1]\n")
    assert after.get("school_bus").graph.nodes[:2] == (before.graph.nodes[1], before.graph.nodes[0])


def test_define_takes_edges_among_the_first_m_slots(example_library):
    d = example_library.get("D")
    after = _after(example_library, "define class I from A.c1, E.c2, C.c3, edges like D").get("I")
    assert after.output_index is None and after.pool == ()
    assert after.graph.nodes == tuple(example_library.get(c).graph.nodes[i] for c, i in [("A", 0), ("E", 1), ("C", 2)])
    assert after.graph.edge_pairs() == sorted((s, t) for s, t in d.graph.edge_pairs() if s <= 3 and t <= 3)
    assert after.defined.edges_like == "D"


def test_each_block_sees_the_library_the_previous_left(example_library):
    text = "define class I from A.c1, E.c2, edges like D\nclass I: add concept C.c3\n"
    after = _after(example_library, text).get("I")
    assert len(after.graph.nodes) == 3


def test_input_library_is_never_mutated(example_library):
    snapshot = dump_library(example_library)
    result = check(parse((__import__("pathlib").Path(__file__).parents[2] / "examples" / "dsl_tour.hni").read_text()),
                   example_library)
    assert result.ok and result.transforms
    assert dump_library(example_library) == snapshot
    assert dump_library(result.library_after) != snapshot


def test_all_errors_are_reported_at_once(example_library):
    text = "class nope: drop edges *\nclass tank: drop concept 9\ndefine class A from B.c1, edges like C\n"
    with pytest.raises(HniSemanticError) as info:
        compile(parse(text), example_library)
    assert [d.code for d in info.value.diagnostics] == ["E101", "E102", "E109"]


def test_warnings_do_not_fail(example_library):
    result = check(parse("class fire_engine: replace concept 1 with pool[1]"), example_library)
    assert result.ok and [d.code for d in result.diagnostics] == ["W201"] and result.transforms == ()


def test_transforms_refuse_a_library_that_changed(example_library):
    transforms = compile(parse("class fire_engine: replace concept 2 with pool[7]"), example_library)
    changed = apply_transforms(example_library, transforms)
    with pytest.raises(TransformError, match="slot 2 holds"):
        apply_transforms(changed, transforms)
    with pytest.raises(TransformError, match="does not exist"):
        apply_transforms(example_library, (DropEdge(block=0, cls="jeep", src=1, dst=2),))


def test_transforms_are_typed_and_serialisable(example_library):
    transforms = compile(parse("class fire_engine: replace concept 2 with pool[7]"), example_library)
    (t,) = transforms
    assert isinstance(t, ReplaceConcept)
    assert t.model_dump() == {
        "block": 0, "cls": "fire_engine", "kind": "replace_concept", "slot": 2,
        "old": example_library.get("fire_engine").graph.nodes[1],
        "new": example_library.get("fire_engine").pool[6].id,
        "old_origin": "pool[2]", "new_origin": "pool[7]",
    }

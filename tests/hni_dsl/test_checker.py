"""Checker and transforms: the meaning of each statement, and purity."""

from __future__ import annotations

import pytest

from hni_dsl import HniSemanticError, apply_transforms, check, compile, dump_library, parse
from hni_dsl.transforms import AddConcept, DropEdge, ForbidConcept, ReplaceConcept, TransformError


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
    after = _after(
        example_library, "class school_bus:\n    replace concept 1 with pool[2]\n    replace concept 2 with pool[1]\n"
    )
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
    result = check(
        parse((__import__("pathlib").Path(__file__).parents[2] / "examples" / "dsl_tour.hni").read_text()),
        example_library,
    )
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
        "block": 0,
        "cls": "fire_engine",
        "kind": "replace_concept",
        "slot": 2,
        "old": example_library.get("fire_engine").graph.nodes[1],
        "new": example_library.get("fire_engine").pool[6].id,
        "old_origin": "pool[2]",
        "new_origin": "pool[7]",
    }


# -- forbid --------------------------------------------------------------------------------------


def _with_forbidden(library, cls, *concepts):
    return library.with_class(library.get(cls).model_copy(update={"forbidden": concepts}))


def test_forbid_a_slot_removes_it_and_its_edges_and_records_the_concept(example_library):
    before = example_library.get("zebra")  # edges 1->2, 2->3, 1->4
    after = _after(example_library, "class zebra: forbid concept 2").get("zebra")
    assert after.graph.nodes == (before.graph.nodes[0],) + before.graph.nodes[2:]
    assert after.graph.edge_pairs() == [(1, 3)]  # old 1->4, renumbered; 1->2 and 2->3 went with slot 2
    assert after.forbidden == (before.graph.nodes[1],)


def test_forbid_by_reference_finds_the_slot_or_only_records(example_library):
    zebra = example_library.get("zebra")
    in_graph = zebra.graph.nodes[2]
    text = f"class zebra: forbid pool[{zebra.pool_rank(in_graph)}]; forbid pool[8]; forbid jeep.c1"
    result = check(parse(text), example_library)
    assert result.ok
    slot_removed, pool_only, other_class = result.transforms
    assert isinstance(slot_removed, ForbidConcept)
    assert (slot_removed.concept, slot_removed.slot) == (in_graph, 3)
    assert (pool_only.concept, pool_only.origin, pool_only.slot) == (zebra.pool[7].id, "pool[8]", None)
    assert (other_class.origin, other_class.slot) == ("jeep.c1", None)
    after = result.library_after.get("zebra")
    assert after.graph.nodes == tuple(n for n in zebra.graph.nodes if n != in_graph)
    assert after.forbidden == (in_graph, zebra.pool[7].id, example_library.get("jeep").graph.nodes[0])


def test_forbid_concept_n_is_known_by_its_origin(example_library):
    (t,) = compile(parse("class fire_engine: forbid concept 2"), example_library)
    assert t.model_dump() == {
        "block": 0,
        "cls": "fire_engine",
        "kind": "forbid_concept",
        "concept": example_library.get("fire_engine").graph.nodes[1],
        "origin": "pool[2]",
        "slot": 2,
    }


def test_forbid_mixes_with_other_edits_in_one_block(example_library):
    tank = example_library.get("tank")  # edges 1->2, 1->3, 2->1, 2->3, 3->4, 4->2
    after = _after(
        example_library, "class tank:\n    forbid concept 1\n    replace concept 2 with pool[5]\n    add edge 3->2\n"
    ).get("tank")
    assert after.graph.nodes == (tank.pool[4].id, tank.graph.nodes[2], tank.graph.nodes[3])
    assert after.graph.edge_pairs() == [(1, 2), (2, 1), (2, 3), (3, 1)]
    assert after.forbidden == (tank.graph.nodes[0],)


@pytest.mark.parametrize(
    "text, codes",
    [
        ("class tank: forbid concept 2; drop concept 2", ["E108"]),
        ("class tank: drop concept 2; forbid tank.c2", ["E108"]),
        ("class tank: replace concept 2 with pool[5]; forbid concept 2", ["E108"]),
        ("class tank: forbid pool[6]; forbid pool[6]", ["E108"]),
        ("class tank: forbid pool[6]; add concept pool[6]", ["E108"]),
        ("class tank: add concept pool[6]; forbid pool[6]", ["E108"]),
        ("class tank: replace concept 1 with pool[6]; forbid pool[6]", ["E108"]),
        ("class tank: forbid concept 2; add edge 2->4", ["E108"]),
        ("class tank: forbid concept 5", ["E102"]),
        ("class tank: forbid pool[9]", ["E104"]),
        ("class tank: forbid jeep.c5", ["E102"]),
        ("class tnak: forbid jeep.c5", ["E101", "E102"]),
        ("class tank: forbid concept 1; forbid concept 2; forbid concept 3; forbid concept 4", ["E112"]),
        ("class tank: forbid pool[6]\nclass tank: add concept pool[6]", ["E113"]),
        ("class tank: forbid pool[6]\nclass tank: replace concept 1 with pool[6]", ["E113"]),
        ("forbid tank.pool[6]", ["E010"]),
    ],
)
def test_forbid_errors(example_library, text, codes):
    result = check(parse(text), example_library)
    assert [d.code for d in result.errors] == codes
    if "\n" not in text:
        assert result.library_after == example_library  # a block with an error changes nothing


def test_forbid_outside_a_block_says_where_it_goes(example_library):
    (d,) = check(parse("class tank: drop edge 1->2\nforbid pool[3]"), example_library, "x.hni").diagnostics
    assert d.headline() == (
        "x.hni:2:1: error[E010]: `forbid` goes inside a class block, which names the class "
        "that must not rely on the concept: `class NAME: forbid pool[3]`"
    )


def test_a_concept_forbidden_in_the_library_cannot_return(example_library):
    tank = example_library.get("tank")
    library = _with_forbidden(example_library, "tank", tank.pool[5].id)
    result = check(parse("class tank: add concept pool[6]; replace concept 1 with tank.pool[6]"), library, "x.hni")
    assert [(d.code, d.column) for d in result.diagnostics] == [("E113", 25), ("E113", 57)]
    assert "pool[6] is tank/" in result.errors[0].message and "forbidden for tank" in result.errors[0].message
    # other classes may still use it
    assert check(parse("class jeep: add concept tank.pool[6]"), library).ok


def test_forbidding_again_warns_and_changes_nothing(example_library):
    tank = example_library.get("tank")
    library = _with_forbidden(example_library, "tank", tank.pool[5].id)
    result = check(parse("class tank: forbid pool[6]"), library)
    assert result.ok and [d.code for d in result.diagnostics] == ["W204"] and result.transforms == ()
    assert result.library_after == library


def test_dropping_an_edge_of_a_forbidden_slot_is_redundant(example_library):
    result = check(parse("class tank: forbid concept 2; drop edge 1->2"), example_library)
    assert result.ok and [d.code for d in result.diagnostics] == ["W202"]
    assert "`forbid concept 2` on line 1 removes it" in result.diagnostics[0].message


def test_forbid_transforms_refuse_a_library_that_changed(example_library):
    transforms = compile(parse("class tank: forbid concept 2; forbid pool[6]"), example_library)
    changed = apply_transforms(example_library, transforms)
    with pytest.raises(TransformError, match="already forbidden"):
        apply_transforms(changed, transforms[1:])
    renumbered = apply_transforms(example_library, compile(parse("class tank: drop concept 1"), example_library))
    with pytest.raises(TransformError, match="slot 2 holds"):
        apply_transforms(renumbered, transforms[:1])
    tank = example_library.get("tank")
    not_in_graph = ForbidConcept(block=0, cls="tank", concept=tank.graph.nodes[0], origin="pool[1]", slot=None)
    with pytest.raises(TransformError, match="at slot 1, expected it in no slot"):
        apply_transforms(example_library, (not_in_graph,))
    unknown = ForbidConcept(block=0, cls="tank", concept="nowhere/k1", origin="pool[1]", slot=None)
    with pytest.raises(TransformError, match="in no class's pool"):
        apply_transforms(example_library, (unknown,))
    back = (
        ForbidConcept(block=0, cls="tank", concept=tank.pool[5].id, origin="pool[6]", slot=None),
        AddConcept(block=0, cls="tank", concept=tank.pool[5].id, origin="pool[6]"),
    )
    with pytest.raises(TransformError, match="which is forbidden for it"):
        apply_transforms(example_library, back)

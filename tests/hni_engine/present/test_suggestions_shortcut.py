"""The shortcut detector on crafted pools: a pinned, evidence-dense marker is flagged (replaced, then
forbidden); object parts, centred concepts, rare ones and concepts the class does not rely on are not."""

from __future__ import annotations

from hni_dsl.library import ClassEntry, Graph, GraphEdge, PoolConcept
from hni_engine.present.suggestions import evidence_density, shortcut_concepts


def _concept(key: str, **fields: object) -> PoolConcept:
    """A significant, stable concept of class c, spread out over its images, carrying 10% of the evidence
    on 4% of the image (density 2.5: an object part), unless ``fields`` say otherwise."""
    values: dict[str, object] = {
        "importance": 0.1,
        "logit_drop": 0.5,
        "interval": (0.3, 0.7),
        "p_value": 0.001,
        "area": 0.04,
        "place": "spread out",
        "images": 20,
        "stable": True,
    }
    values.update(fields)
    return PoolConcept(id=f"c/{key}", **values)  # type: ignore[arg-type]


def _entry(*special: PoolConcept, parts: int = 5) -> ClassEntry:
    """Class c: the ``special`` concepts first in its pool, then ``parts`` ordinary object parts; its c-SCG
    holds the first two pool concepts."""
    pool = (*special, *(_concept(f"p{i}") for i in range(parts)))
    graph = Graph(nodes=(pool[0].id, pool[1].id), edges=(GraphEdge(src=1, dst=2),))
    return ClassEntry(name="c", output_index=0, pool=pool, graph=graph)


MARKER = {"importance": 0.6, "area": 0.02, "place": "top left (95%)"}  # density 30, pinned


def test_density_is_evidence_share_over_area():
    assert evidence_density(_concept("a", importance=0.3, area=0.05)) == 0.3 / 0.05
    assert evidence_density(_concept("a", area=None)) is None
    assert evidence_density(_concept("a", area=0.0)) is None


def test_a_pinned_dense_marker_in_the_graph_gives_its_slot_then_is_forbidden():
    entry = _entry(_concept("m", **MARKER))
    found = shortcut_concepts(entry)
    assert [f.statement for f in found] == ["replace concept 1 with pool[3]", "forbid pool[1]"]
    assert {f.confidence for f in found} == {"high"}
    reason = found[1].reason
    assert "95% of its patches sit top left" in reason and "60% of the class's evidence on 2.0% of the image" in reason
    assert "30.0x its area's share" in reason and "median 2.5x" in reason
    assert found[0].concepts == ["c/m", "c/p1"]  # pool[2] (p0) is already in the graph


def test_a_concept_outside_the_graph_is_only_forbidden():
    entry = _entry(_concept("a"), _concept("b"), _concept("m", **MARKER))
    assert [f.statement for f in shortcut_concepts(entry)] == ["forbid pool[3]"]


def test_object_parts_are_left_alone():
    assert shortcut_concepts(_entry(_concept("a"), _concept("b"))) == []


def test_one_sign_alone_is_less_sure():
    # pinned off-centre, no denser than a part: a guess
    (pinned,) = shortcut_concepts(_entry(_concept("a"), _concept("b"), _concept("m", place="bottom right (85%)")))
    assert pinned.confidence == "low" and pinned.statement == "forbid pool[3]"
    # dense, spread out: low above the bar (10x, and 3x the median of 2.5), medium above twice the bar
    dense = _concept("m", importance=0.3, area=0.02)  # 15x
    assert {f.confidence for f in shortcut_concepts(_entry(_concept("a"), _concept("b"), dense))} == {"low"}
    denser = _concept("m", importance=0.5, area=0.02)  # 25x
    assert {f.confidence for f in shortcut_concepts(_entry(_concept("a"), _concept("b"), denser))} == {"medium"}


def test_the_bar_rises_with_the_class_own_density():
    # a small object: every part is dense (12.5x), so a 25x concept is only twice the median, not a shortcut
    small = {"importance": 0.25, "area": 0.02}
    entry = ClassEntry(
        name="c",
        output_index=0,
        pool=(
            *(_concept(f"p{i}", **small) for i in range(4)),
            _concept("m", importance=0.5, area=0.02),
        ),
        graph=Graph(nodes=("c/p0",)),
    )
    assert shortcut_concepts(entry) == []
    # with fewer than three significant concepts the absolute bar (10x) holds alone
    few = ClassEntry(name="c", output_index=0, pool=entry.pool[3:], graph=Graph(nodes=("c/p3",)))
    assert [f.concepts for f in shortcut_concepts(few)] == [["c/p3"], ["c/m"]]


def test_centred_rare_and_unused_concepts_are_not_pinned_shortcuts():
    centred = _concept("m", place="centre (100%)")
    rare = _concept("m", place="top (100%)", images=3)
    unknown = _concept("m", place="spread out", images=None)
    for concept in (centred, rare, unknown):
        assert shortcut_concepts(_entry(_concept("a"), _concept("b"), concept)) == []
    # a pinned, dense concept the class does not rely on (erasing it changes nothing significant) is harmless
    unused = _concept("m", **MARKER, p_value=0.3)
    raises = _concept("m", **MARKER, logit_drop=-0.2)
    for concept in (unused, raises):
        assert shortcut_concepts(_entry(_concept("a"), _concept("b"), concept)) == []


def test_concepts_another_detector_took_are_skipped():
    entry = _entry(_concept("m", **MARKER))
    assert shortcut_concepts(entry, avoid={"c/m"}) == []
    # a replacement another detector already placed is not placed again
    found = shortcut_concepts(entry, avoid={"c/p1"})
    assert found[0].statement == "replace concept 1 with pool[4]"

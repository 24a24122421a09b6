"""The pose or layout detector on crafted edge-drop tests: an edge whose drop reverses or halves on turned
copies of the test images is dropped, a class most of whose edges do drops them all; the script it
writes checks; a library without the turned measurement gets no finding."""

from __future__ import annotations

import pytest

from hni_dsl import make_plan
from hni_dsl.library import (
    ClassEntry,
    Graph,
    GraphEdge,
    Library,
    PoolConcept,
    dump_library,
    load_library,
    parse_library,
)
from hni_engine.present.suggest_layout import edge_turns, layout_edges
from hni_engine.present.suggest_script import suggest


def _edge(src: int, dst: int, drop: float | None, turned: float | None) -> GraphEdge:
    return GraphEdge(src=src, dst=dst, weight=0.5, drop=drop, turned_drop=turned)


def _entry(*edges: GraphEdge, name: str = "c", output: int = 0) -> ClassEntry:
    pool = tuple(PoolConcept(id=f"{name}/k{i}", importance=0.5) for i in range(4))
    nodes = tuple(c.id for c in pool)
    return ClassEntry(name=name, output_index=output, pool=pool, graph=Graph(nodes=nodes, edges=edges))


STEADY = (_edge(1, 2, 0.40, 0.38), _edge(2, 3, 0.30, 0.33), _edge(3, 4, 0.20, 0.18), _edge(4, 1, 0.25, 0.22))


def test_edges_that_keep_their_drop_are_not_flagged():
    assert edge_turns(STEADY) == []
    assert layout_edges(_entry(*STEADY)) == []


def test_a_reversed_edge_and_a_shrunk_edge_are_found_with_their_change():
    edges = (_edge(1, 2, 0.40, -0.20), _edge(2, 3, 0.30, 0.10), *STEADY[2:])
    first, second = edge_turns(edges)
    assert (first.src, first.dst, first.reversed) == (1, 2, True)
    assert first.change == pytest.approx(0.6 / 0.4)
    assert (second.reversed, second.change) == (False, pytest.approx(0.2 / 0.3))
    assert "reverses" in first.text() and "+0.400 on the test images, -0.200 on turned copies" in first.text()
    assert "shrinks" in second.text()


def test_edges_too_small_to_matter_are_ignored():
    # 0.05 -> -0.05 reverses, but is under a quarter of the class's largest drop (0.4)
    edges = (_edge(1, 2, 0.05, -0.05), *STEADY[:1])
    assert edge_turns(edges) == []
    # no edge moves the score at all: nothing to compare
    assert edge_turns((_edge(1, 2, 0.0, 0.0),)) == []


def test_each_changed_edge_is_dropped_with_its_confidence():
    edges = (_edge(1, 2, 0.40, -0.20), _edge(2, 3, 0.30, 0.14), *STEADY[2:], _edge(1, 3, 0.3, 0.3))
    found = layout_edges(_entry(*edges))
    assert [(f.statement, f.confidence) for f in found] == [("drop edge 1->2", "medium"), ("drop edge 2->3", "low")]
    assert found[0].concepts == ["c/k0", "c/k1"] and found[0].detector == "layout"
    # a grown edge counts as a change too: 0.1 on the test images, 0.4 on the turned ones (75%: medium)
    (grown,) = layout_edges(_entry(_edge(1, 2, 0.1, 0.4), *STEADY[1:]))
    assert (grown.statement, grown.confidence) == ("drop edge 1->2", "medium") and "grows" in grown.reason


def test_a_class_whose_edges_mostly_change_drops_them_all():
    edges = (_edge(1, 2, 0.40, -0.20), _edge(2, 3, 0.30, 0.05), _edge(3, 4, 0.3, 0.12), STEADY[3])
    (found,) = layout_edges(_entry(*edges))
    assert found.statement == "drop edges *" and found.confidence == "medium"
    assert found.reason.startswith("3 of its 4 edges (4 measured) change")


def test_a_library_without_the_turned_measurement_has_no_layout_finding():
    old = (_edge(1, 2, 0.4, None), _edge(2, 3, None, None))
    assert edge_turns(old) == [] and layout_edges(_entry(*old)) == []


def test_the_field_is_optional_in_the_file():
    library = Library(classes=(_entry(_edge(1, 2, 0.4, None)),))
    assert "turned_drop" not in dump_library(library)  # libraries without it keep their exact text
    turned = Library(classes=(_entry(_edge(1, 2, 0.4, -0.1)),))
    assert parse_library(dump_library(turned)) == turned and '"turned_drop": -0.1' in dump_library(turned)


def test_the_script_drops_the_edges_and_checks(tmp_path):
    changed = (_edge(1, 2, 0.40, -0.20), _edge(2, 3, 0.30, 0.14), *STEADY[2:], _edge(1, 3, 0.3, 0.3))  # 2 of 5
    library = Library(classes=(_entry(*changed), _entry(*STEADY, name="d", output=1)))
    drafted = suggest(library, tmp_path / "missing.json")
    outcome = make_plan(library, [("suggested.hni", drafted.text)])
    assert outcome.plan is not None and not [d for d in outcome.diagnostics if d.is_error]
    assert "\n    drop edge 1->2\n" in drafted.text
    assert "# drop edge 2->3\n" in drafted.text and "\ndrop edge 2->3" not in drafted.text.replace("    ", "")
    assert "layout (medium): edge 1->2" in drafted.text and "class d" not in drafted.text


def test_extraction_records_each_edge_drop_on_turned_copies(tiny_extracted):
    library = load_library(tiny_extracted / "concepts" / "library.json")
    edges = [e for entry in library.classes for e in entry.graph.edges]
    assert edges and all(e.drop is not None and e.turned_drop is not None for e in edges)
    # the turned copies are other images: their drops are not the originals' copied over
    assert any(e.turned_drop != e.drop for e in edges)

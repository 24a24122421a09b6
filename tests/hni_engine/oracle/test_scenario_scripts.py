"""Example scripts of the built-in scenarios: concepts are labelled by where their member patches sit."""

from __future__ import annotations

import json

import torch

from hni_dsl import check, parse
from hni_dsl.library import ClassEntry, Graph, GraphEdge, Library, PoolConcept
from hni_engine.oracle.scenario_scripts import BACKGROUND, CONTEXT, concept_labels, oracle_script
from hni_engine.store.workspace import Workspace


def _workspace(tmp_path, scenario: str = "spurious"):
    """A hand-made extracted workspace: two images' metadata and the members of five concepts."""
    data = tmp_path / "data"
    data.mkdir()
    manifest = {
        "scenario": scenario,
        "image_size": 64,
        "classes": {"truck": {"parts": ["red_bar", "blue_ring"]}, "van": {"parts": ["green_square"]}},
        "context": {"objects": {"truck": "white_hexagon"}},
    }
    (data / "scenario.json").write_text(json.dumps(manifest))
    records = [
        {
            "file": "train/truck/0000.png",
            "parts": [{"part": "red_bar", "box": [10, 10, 30, 20]}, {"part": "blue_ring", "box": [12, 22, 20, 30]}],
            "context": {"box": [40, 40, 60, 60]},
        },
        {
            "file": "train/truck/0001.png",
            "parts": [{"part": "red_bar", "box": [30, 30, 50, 40]}, {"part": "blue_ring", "box": [32, 42, 40, 50]}],
            "context": {"box": [0, 0, 20, 20]},
        },
    ]
    (data / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    w = 64.0
    box = lambda x0, y0, x1, y1: [x0 / w, y0 / w, x1 / w, y1 / w]  # noqa: E731
    members = {
        "truck/ctx": [
            ["/x/data/train/truck/0000.png", *box(42, 42, 58, 58)],
            ["/x/data/train/truck/0001.png", *box(2, 2, 18, 18)],
        ],
        "truck/bg": [
            ["/x/data/train/truck/0000.png", *box(0, 50, 10, 64)],
            ["/x/data/train/truck/0001.png", *box(54, 0, 64, 10)],
        ],
        "truck/bar": [
            ["/x/data/train/truck/0000.png", *box(12, 11, 28, 19)],
            ["/x/data/train/truck/0001.png", *box(32, 31, 48, 39)],
        ],
        "truck/ring": [
            ["/x/data/train/truck/0000.png", *box(13, 23, 19, 29)],
            ["/x/data/train/truck/0001.png", *box(33, 43, 39, 49)],
        ],
        "van/sq": [],
    }
    (tmp_path / "concepts").mkdir()
    torch.save({"members": members}, tmp_path / "concepts" / "anchors.pt")
    pool = lambda *ids: tuple(PoolConcept(id=i, importance=1.0) for i in ids)  # noqa: E731
    library = Library(
        classes=(
            ClassEntry(
                name="truck",
                output_index=0,
                pool=pool("truck/ctx", "truck/bar", "truck/bg", "truck/ring"),
                graph=Graph(
                    nodes=("truck/ctx", "truck/bar", "truck/bg"),
                    edges=(GraphEdge(src=1, dst=2), GraphEdge(src=2, dst=3)),
                ),
            ),
            ClassEntry(name="van", output_index=1, pool=pool("van/sq"), graph=Graph(nodes=("van/sq",))),
        )
    )
    return Workspace(tmp_path), library


def test_concepts_are_labelled_by_where_their_members_sit(tmp_path):
    ws, _ = _workspace(tmp_path)
    labels = concept_labels(ws)
    assert labels["truck/ctx"] == CONTEXT
    assert labels["truck/bg"] == BACKGROUND
    assert labels["truck/bar"] == "red_bar"
    assert labels["truck/ring"] == "blue_ring"  # the smaller box wins where boxes overlap


def test_spurious_script_replaces_context_and_background_by_genuine_parts(tmp_path):
    ws, library = _workspace(tmp_path)
    text = oracle_script(ws, library)
    assert "class truck: replace concept 1 with pool[4]\n" in text  # ctx -> ring (bar is already slot 2)
    # Then every pool concept showing the context is forbidden, in or out of the c-SCG.
    assert "class truck: forbid pool[1]\n" in text
    result = check(parse(text), library)
    assert result.ok
    assert result.library_after.get("truck").graph.nodes == ("truck/ring", "truck/bar", "truck/bg")
    assert result.library_after.get("truck").forbidden == ("truck/ctx",)


def test_posebias_script_drops_every_edge_and_keeps_the_concepts_of_the_class_own_parts(tmp_path):
    """A shared part turns with the pose, so its concepts carry the pose: a class keeps the concepts of
    the parts only it has (here all of truck's), context and background slots give way to them."""
    ws, library = _workspace(tmp_path, "posebias")
    text = oracle_script(ws, library)
    # truck is (ctx, bar, bg): ctx -> the ring (pool[4]), bar stays, bg goes; then the edges.
    assert "class truck: replace concept 1 with pool[4]; drop concept 3; drop edges *\n" in text
    assert "class van" not in text  # its one concept shows nothing (no members) and it has no edges
    result = check(parse(text), library)
    assert result.ok
    truck = result.library_after.get("truck").graph
    assert truck.nodes == ("truck/ring", "truck/bar") and not truck.edges


def test_posebias_script_keeps_the_nodes_of_a_class_whose_own_part_no_concept_shows(tmp_path):
    ws, library = _workspace(tmp_path, "posebias")
    manifest = json.loads((tmp_path / "data" / "scenario.json").read_text())
    manifest["classes"]["van"]["parts"] = ["red_bar", "blue_ring"]  # shares both: truck has none of its own
    (tmp_path / "data" / "scenario.json").write_text(json.dumps(manifest))
    text = oracle_script(ws, library)
    assert "# truck: no concept shows a part of its own; its nodes stay\nclass truck: drop edges *\n" in text


def test_zeroshot_script_takes_a_part_from_another_class_that_has_it(tmp_path):
    ws, library = _workspace(tmp_path, "zeroshot")
    manifest = json.loads((tmp_path / "data" / "scenario.json").read_text())
    manifest["classes"]["van"]["parts"].append("blue_ring")  # van has the ring too, but no concept of it
    manifest["compositions"] = {
        "newcar": {
            "parts": [{"class": "van", "part": "blue_ring"}, {"class": "truck", "part": "red_bar"}],
            "layout_from": "truck",
        },
        "ghost": {"parts": [{"class": "van", "part": "green_square"}], "layout_from": "van"},
    }
    (tmp_path / "data" / "scenario.json").write_text(json.dumps(manifest))
    text = oracle_script(ws, library)
    assert "# newcar: no concept of van shows blue_ring; truck's does\n" in text
    # References are to the library the layout fix leaves: truck's slots 1-2 are now bar, ring.
    assert "define class newcar from truck.c2, truck.c1, edges like truck\n" in text
    assert "# ghost: no concept shows green_square; not defined" in text
    assert check(parse(text), library).ok


def test_zeroshot_script_puts_the_like_class_parts_first_in_layout_order(tmp_path):
    """A defined class's part i sits where the like class's slot i is matched: those slots must show the
    like class's parts in its layout's order, not its context or background."""
    ws, library = _workspace(tmp_path, "zeroshot")
    manifest = json.loads((tmp_path / "data" / "scenario.json").read_text())
    manifest["compositions"] = {
        "newcar": {
            "parts": [{"class": "truck", "part": "blue_ring"}, {"class": "truck", "part": "red_bar"}],
            "layout_from": "truck",
        }
    }
    (tmp_path / "data" / "scenario.json").write_text(json.dumps(manifest))
    text = oracle_script(ws, library)
    # truck is (ctx, bar, bg) and its layout is (red_bar, blue_ring): bar to slot 1, ring (pool[4]) to 2.
    assert (
        "class truck: replace concept 1 with pool[2]; replace concept 2 with pool[4]; "
        "replace concept 3 with pool[1]\n" in text
    )
    result = check(parse(text), library)
    assert result.ok
    assert result.library_after.get("truck").graph.nodes == ("truck/bar", "truck/ring", "truck/ctx")
    assert result.library_after.get("truck").graph.edges == library.get("truck").graph.edges  # replace keeps them
    assert "define class newcar from truck.c2, truck.c1, edges like truck\n" in text


def test_digits_script_replaces_background_photograph_concepts_by_the_digit_and_forbids_them(tmp_path):
    """digits: each class's own photograph fills the image as its context (the records' `context` box is
    the whole image), so every concept off the digit's box shows the photograph, and the spurious edits
    apply to every class."""
    ws, library = _workspace(tmp_path, "digits")
    manifest = {
        "scenario": "digits",
        "kind": "photos",
        "image_size": 64,
        "classes": {
            "truck": {"digit": 0, "background": "brick", "parts": ["red_bar", "blue_ring"]},
            "van": {"digit": 1, "background": "grass", "parts": ["green_square"]},
        },
    }
    (tmp_path / "data" / "scenario.json").write_text(json.dumps(manifest))
    metadata = tmp_path / "data" / "metadata.jsonl"
    records = [json.loads(line) for line in metadata.read_text().splitlines()]
    for record in records:
        record["context"] = {"object": "brick", "of_class": "truck", "box": [0, 0, 64, 64]}
    metadata.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    labels = concept_labels(ws)
    assert labels["truck/bg"] == CONTEXT and labels["truck/ctx"] == CONTEXT and labels["truck/bar"] == "red_bar"
    text = oracle_script(ws, library)
    # truck is (ctx, bar, bg): the first photograph slot takes the one digit concept left in the pool (the
    # ring, pool[4]); then both photograph concepts are forbidden, which removes slot 3 as well.
    assert "class truck: replace concept 1 with pool[4]\n" in text
    assert "class truck: forbid pool[1]; forbid pool[3]\n" in text
    result = check(parse(text), library)
    assert result.ok
    truck = result.library_after.get("truck")
    assert truck.graph.nodes == ("truck/ring", "truck/bar") and truck.forbidden == ("truck/ctx", "truck/bg")

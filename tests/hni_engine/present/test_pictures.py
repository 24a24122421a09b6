"""`hni show --png` and `hni explain --png` on a tiny synthetic world: the pictures are written, and the
numbers drawn on them are the edit language's (slot i = graph.nodes[i-1], `pool[N]` = N-th pool concept).

Each drawing function returns the layout it drew, so the numbering is checked against library.json and
the text of `hni show` / `hni explain`; the pixels inside each drawn box are checked against that
concept's exemplar patch, so a number cannot sit on the wrong picture either.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hni_dsl import load_library, make_plan
from hni_dsl.library import write_library
from hni_engine.cli.app import main
from hni_engine.present import pictures

EXAMPLE_LIBRARY = Path(__file__).resolve().parents[3] / "examples" / "library.json"


@pytest.fixture(scope="module")
def world(tiny_extracted, tmp_path_factory):
    """A copy of the session's tiny trained and extracted workspace."""
    import shutil

    root = tmp_path_factory.mktemp("pictures") / "ws"
    shutil.copytree(tiny_extracted, root)
    return root


def _library(world):
    return load_library(world / "concepts" / "library.json")


def _png(path) -> Image.Image:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img.convert("RGB")


def _shows_exemplar(picture: Image.Image, box, exemplar_path, inset: int) -> bool:
    """The drawn box holds this exemplar (compared away from the border and the number badge)."""
    x0, _y0, x1, _y1 = box
    size = x1 - x0
    with Image.open(exemplar_path) as img:
        expected = np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.NEAREST))
    drawn = np.asarray(picture.crop(box))
    return np.array_equal(drawn[inset:-inset, inset:-inset], expected[inset:-inset, inset:-inset])


def test_scg_png_numbers_are_the_slots_of_the_language(world, tmp_path, capsys):
    library = _library(world)
    entry = library.classes[0]
    out = tmp_path / "scg.png"
    capsys.readouterr()
    assert main(["-w", str(world), "show", entry.name, "--png", str(out)]) == 0
    text = capsys.readouterr().out
    image = _png(out)
    assert 300 <= image.width <= 2000 and 300 <= image.height <= 2000

    drawn = pictures.scg_picture(library, entry, world / "concepts")
    assert np.array_equal(np.asarray(drawn.image), np.asarray(image))  # the file is this drawing
    assert [(p.number, p.concept_id) for p in drawn.layout] == list(enumerate(entry.graph.nodes, start=1))
    for placed in drawn.layout:
        assert f"concept {placed.number}  {placed.concept_id}" in text
        exemplar = world / "concepts" / library.concept(placed.concept_id).exemplars[0]
        assert _shows_exemplar(image, placed.box, exemplar, inset=16)
    assert sorted(drawn.edges) == sorted((e.src, e.dst, e.weight) for e in entry.graph.edges)


def test_scg_png_follows_an_edit(world, tmp_path, capsys):
    """After `drop concept 1` every slot moves up one; the picture numbers what the new text numbers."""
    library = _library(world)
    entry = next(e for e in library.classes if len(e.graph.nodes) >= 2)
    outcome = make_plan(library, [("edit.hni", f"class {entry.name}: drop concept 1\n")])
    assert outcome.plan is not None, outcome.diagnostics
    edited = tmp_path / "library.json"
    write_library(outcome.library_after, edited)
    out = tmp_path / "edited.png"
    capsys.readouterr()
    assert main(["-w", str(world), "show", entry.name, "--library", str(edited), "--png", str(out)]) == 0
    text = capsys.readouterr().out
    after = outcome.library_after.get(entry.name)
    drawn = pictures.scg_picture(outcome.library_after, after, world / "concepts")
    assert [p.concept_id for p in drawn.layout] == list(entry.graph.nodes[1:])
    image = _png(out)
    for placed in drawn.layout:
        assert f"concept {placed.number}  {placed.concept_id}" in text
        exemplar = world / "concepts" / library.concept(placed.concept_id).exemplars[0]
        assert _shows_exemplar(image, placed.box, exemplar, inset=16)


def test_pool_png_rows_are_the_pool_ranks(world, tmp_path, capsys):
    library = _library(world)
    entry = library.classes[-1]
    out = tmp_path / "pool.png"
    capsys.readouterr()
    assert main(["-w", str(world), "show", entry.name, "--pool", "--png", str(out)]) == 0
    text = capsys.readouterr().out
    image = _png(out)
    assert image.width >= 400 and image.height >= 60 * len(entry.pool)

    drawn = pictures.pool_picture(library, entry, world / "concepts")
    assert np.array_equal(np.asarray(drawn.image), np.asarray(image))
    assert [(p.number, p.concept_id) for p in drawn.layout] == list(enumerate((c.id for c in entry.pool), start=1))
    listed = dict(re.findall(r"pool\[(\d+)\]\s+(\S+)", text))
    slots = {cid: i for i, cid in enumerate(entry.graph.nodes, start=1)}
    for placed in drawn.layout:
        assert listed[str(placed.number)] == placed.concept_id
        _x0, y0, _x1, y1 = placed.box
        assert y1 - y0 >= pictures.POOL_PATCH  # a row holds a whole patch
        left = pictures.POOL_LABELS
        first = (left, y0 + 5, left + pictures.POOL_PATCH, y0 + 5 + pictures.POOL_PATCH)
        exemplar = world / "concepts" / library.concept(placed.concept_id).exemplars[0]
        assert _shows_exemplar(image, first, exemplar, inset=1)
        if placed.concept_id in slots:
            assert f"{placed.concept_id}" in text and f"= concept {slots[placed.concept_id]}" in text
    rows = [p.box for p in drawn.layout]
    assert all(a[3] <= b[1] for a, b in itertools.pairwise(rows))  # rank order, top to bottom


def test_explain_png_numbers_and_values_are_the_texts(world, tmp_path, capsys):
    from hni_engine.present.explain_image import explain_figure, explain_image
    from hni_engine.store.workspace import Workspace

    image_path = next((world / "data" / "test").rglob("*.png"))
    names = json.loads((world / "concepts" / "extract.json").read_text())["classes"]
    out = tmp_path / "explain.png"
    capsys.readouterr()
    assert (
        main(
            ["-w", str(world), "explain", str(image_path), "--why-not", names[-1], "--png", str(out), "--device", "cpu"]
        )
        == 0
    )
    text = capsys.readouterr().out
    picture = _png(out)
    assert picture.width >= 2 * pictures.EXPLAIN_SIZE and picture.height >= pictures.EXPLAIN_SIZE

    ex = explain_image(Workspace(world), str(image_path), names[-1], "cpu")
    drawn = explain_figure(ex)
    assert np.array_equal(np.asarray(drawn.image), np.asarray(picture))
    library = _library(world)
    sections = text.split("\n\n")[1:]
    assert len(sections) == len(ex.questions) == 2
    for k, ((title, index, result), section) in enumerate(zip(ex.questions, sections)):
        graph = library.get(ex.names[index]).graph
        offset = ex.slot_offset(ex.names[index])
        present = {slot for slot in range(1, len(graph.nodes) + 1) if bool(ex.batch.present[0, offset + slot - 1])}
        placed = [p for p in drawn.layout if p.panel == k]
        assert {p.number for p in placed} == present  # every matched concept outlined, no other
        for p in placed:
            assert p.concept_id == graph.nodes[p.number - 1]
            value = float(result[ex.names[index]].nodes[p.number - 1])
            printed = rf"concept {p.number}  {re.escape(p.concept_id)}\s+at .* {re.escape(f'{value:+.3f}')}$"
            assert re.search(printed, section, re.M)
            # the outline holds the matched segment's centre, the position the GRN used
            x, y = ex.batch.pos[0, offset + p.number - 1].tolist()
            fx0, fy0, fx1, fy1 = drawn.frames[k]
            px, py = fx0 + x * (fx1 - fx0), fy0 + y * (fy1 - fy0)
            assert p.box[0] <= px <= p.box[2] + 1 and p.box[1] <= py <= p.box[3] + 1
        assert title in section


def test_concepts_without_exemplars_are_gray_boxes(tmp_path, capsys):
    """A hand-made library names no exemplar files: each node is a gray box, still numbered."""
    library = load_library(EXAMPLE_LIBRARY)
    entry = library.get("fire_engine")
    out = tmp_path / "hand.png"
    assert main(["-w", str(tmp_path), "show", "fire_engine", "--library", str(EXAMPLE_LIBRARY), "--png", str(out)]) == 0
    image = _png(out)
    drawn = pictures.scg_picture(library, entry, tmp_path / "concepts")
    assert [p.concept_id for p in drawn.layout] == list(entry.graph.nodes)
    for placed in drawn.layout:
        _x0, _y0, x1, y1 = placed.box
        assert image.getpixel((x1 - 6, y1 - 6)) == pictures.MISSING
    assert (
        main(
            [
                "-w",
                str(tmp_path),
                "show",
                "fire_engine",
                "--pool",
                "--library",
                str(EXAMPLE_LIBRARY),
                "--png",
                str(tmp_path / "pool.png"),
            ]
        )
        == 0
    )
    assert _png(tmp_path / "pool.png").height >= 60 * len(entry.pool)


@pytest.mark.parametrize(
    "argv, status, fragment",
    [
        (["show", "bsu", "--png", "{out}"], 1, "unknown class 'bsu'; did you mean 'bus'?"),
        (
            ["show", "bus", "--png", "{tmp}/no/such/folder/x.png"],
            3,
            "{tmp}/no/such/folder/x.png: cannot write the picture",
        ),
        (["show", "bus", "--pool", "--png", "{tmp}"], 3, "{tmp}: is a folder"),
        (
            ["explain", "{root}/hni.toml", "--png", "{out}", "--device", "cpu"],
            1,
            "{root}/hni.toml: not a readable image",
        ),
        (
            ["explain", "{image}", "--png", "{tmp}/missing/x.png", "--device", "cpu"],
            3,
            "{tmp}/missing/x.png: cannot write the picture: folder {tmp}/missing does not exist",
        ),
        (["explain", "{image}", "--why-not", "tnak", "--png", "{out}", "--device", "cpu"], 1, "did you mean 'tank'?"),
    ],
)
def test_bad_input_writes_nothing(world, tmp_path, capsys, argv, status, fragment):
    image = next((world / "data" / "test").rglob("*.png"))
    values = dict(root=world, tmp=tmp_path, out=tmp_path / "out.png", image=image)
    capsys.readouterr()
    assert main(["-w", str(world)] + [a.format(**values) for a in argv]) == status
    assert fragment.format(**values) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no picture, no temporary file, no folder


def test_drawing_needs_no_torch():
    """pictures.py draws from the library file and plain arrays: importing it must not load torch."""
    code = "import sys, hni_engine.present.pictures; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

"""The report's suggestions section on a hand-made workspace: the same findings and script as `hni suggest`,
each card with its reason, its statement as the script writes it, and its picture (the concept's own card,
the edge marked on the c-SCG)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from hni_engine.cli.app import main
from hni_engine.present import pictures
from hni_engine.present.report import render
from hni_engine.present.report_inputs import gather
from hni_engine.present.report_suggest import MARK, card_tags, edge_picture, suggestions_section
from hni_engine.present.suggest_script import Suggestions
from hni_engine.present.suggestions import Finding
from hni_engine.store.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "library.json"


def _errors(wrong: int) -> dict:
    confusions = [{"true": "tank", "predicted": "fire_engine", "images": wrong}] if wrong else []
    return {
        "accuracy_with": 0.5,
        "accuracy_without": 0.9,
        "images_with": 20,
        "images_without": 40,
        "confusions": confusions,
    }


@pytest.fixture
def ws(tmp_path) -> Path:
    """The example library; fire_engine's concepts carry evidence (its slot 2, pool[2], goes with 12 of 20 test
    images of another class called fire_engine) and a card in context; model/base.json makes tank weak."""
    root = tmp_path / "ws"
    (root / "concepts" / "patches").mkdir(parents=True)
    library = json.loads(EXAMPLE.read_text())
    fire = library["classes"][0]
    for rank, concept in enumerate(fire["pool"], start=1):
        concept.update(logit_drop=1.0 / rank, p_value=0.001, stable=True, errors=_errors(12 if rank == 2 else 0))
        card = f"patches/{concept['id'].replace('/', '_')}_context.jpg"
        Image.new("RGB", (120, 60), (40 + 8 * rank, 90, 160)).save(root / "concepts" / card, quality=90)
        concept["context"] = card
    (root / "concepts" / "library.json").write_text(json.dumps(library))
    names = [c["name"] for c in library["classes"] if c["output_index"] is not None]
    confusion = [[9 if i == j else 0 for j in range(len(names))] for i in range(len(names))]
    tank = names.index("tank")
    confusion[tank] = [4 if j == tank else (6 if j == 0 else 0) for j in range(len(names))]
    per_class = {n: 0.9 for n in names} | {"tank": 0.4}
    (root / "model").mkdir()
    (root / "model" / "base.json").write_text(
        json.dumps({"per_class": per_class, "confusion": confusion, "classes": names})
    )
    return root


def _section(text: str) -> str:
    return text[text.index('<section id="suggestions">') : text.index("</section>", text.index('id="suggestions"'))]


def _articles(section: str) -> dict[str, str]:
    return dict(re.findall(r'<article [^>]*id="(suggestion-\d+)"[^>]*>(.*?)</article>', section, flags=re.S))


def _png(tag: str) -> Image.Image:
    src = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
    assert src is not None, tag[:80]
    return Image.open(io.BytesIO(base64.b64decode(src.group(1)))).convert("RGB")


def _id(ws: Path, rank: int) -> str:
    return json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["pool"][rank - 1]["id"]


def test_the_section_is_what_hni_suggest_drafts(ws, capsys):
    assert main(["-w", str(ws), "suggest"]) == 0
    script = capsys.readouterr().out
    text = render(gather(Workspace(ws)))
    section = _section(text)
    shown = re.search(r'<pre id="suggested-script">(.*?)</pre>', section, flags=re.S)
    assert shown is not None and html.unescape(shown.group(1)) == script
    articles = _articles(section)
    # tank: weak, informs only; fire_engine: replace slot 2, then forbid it (spurious, high)
    assert len(articles) == 3 and "3 suggestions: 3 high, 0 medium and 0 low confidence" in section
    weak, replace, forbid = articles.values()
    assert '<a href="#class-1">fire_engine</a>: spurious, high confidence' in replace
    assert "<code>replace concept 2 with pool[5]</code>: written in the script as a statement" in replace
    assert "60% of the 20 test images holding it are other classes&#x27; images" in replace
    assert "<code>forbid pool[2]</code>: written in the script as a statement" in forbid
    tank = next(i for i, e in enumerate(gather(Workspace(ws)).entries) if e.name == "tank")
    assert f'<a href="#class-{tank + 1}">tank</a>: weak' in weak and "informs only" in weak
    assert "most often taken for fire_engine (6 of 10 test images)" in weak
    assert '<a href="#suggestions">suggestions</a>' in text  # in the contents


def test_concept_pictures_are_the_class_sections_own_cards(ws):
    text = render(gather(Workspace(ws)))
    weak, replace, forbid = _articles(_section(text)).values()
    cards = card_tags(text[text.index('<section class="class"') :])
    # the replaced concept and its replacement, each the very <img> its class section shows
    assert re.findall(r'<img class="card"[^>]*>', replace) == [cards["fire_engine/k09"], cards[_id(ws, 5)]]
    assert re.findall(r'<img class="card"[^>]*>', forbid) == [cards["fire_engine/k09"]]
    assert text.count(cards["fire_engine/k09"]) == 3  # its class section, then the two suggestions
    assert "<img" not in weak


def test_an_edge_is_marked_on_the_class_graph_and_each_statement_says_how_it_is_written(ws):
    inputs = gather(Workspace(ws))
    findings = [
        Finding("layout", "ambulance", "edge 1->3 weight +0.71 -> -0.20 on flipped images", "medium", "drop edge 1->3"),
        Finding("layout", "ambulance", "edge 2->4 changes sign", "low", "drop edge 2->4"),
        Finding("spurious", "ambulance", "collides with another", "medium", "forbid pool[1]", ["ambulance/k30"]),
    ]
    drafted = Suggestions("class ambulance:\n    drop edge 1->3\n    # drop edge 2->4\n", findings)
    section = suggestions_section(inputs, drafted, {})
    first, second, third = _articles(section).values()
    assert "<code>drop edge 1-&gt;3</code>: written in the script as a statement" in first
    assert "too little evidence: written commented out" in second
    assert "does not check beside the other suggestions" in third
    assert "no picture in context for ambulance/k30" in third  # the library gives it no card
    assert 'alt="c-SCG of ambulance, edge 1-&gt;3 marked"' in first
    # the mark lies on the line between the two slots' patches, where the plain c-SCG has none
    marked = _png(re.search(r"<img [^>]*>", first).group(0))
    plain = pictures.scg_picture(inputs.library, inputs.library.get("ambulance"), ws / "concepts")
    boxes = {p.number: p.box for p in plain.layout}
    (a0, a1, a2, a3), (b0, b1, b2, b3) = boxes[1], boxes[3]
    middle = (round((a0 + a2 + b0 + b2) / 4), round((a1 + a3 + b1 + b3) / 4))
    assert marked.size == plain.image.size and marked.getpixel(middle) != plain.image.convert("RGB").getpixel(middle)
    red, green, blue = marked.getpixel(middle)
    assert red > 200 and green > blue + 60  # orange over whatever was there
    ring = (a0 - 4, (a1 + a3) // 2)  # just outside slot 1's patch
    assert marked.getpixel(ring) == MARK
    # an edge whose slot the graph does not have is drawn unmarked, not guessed
    unmarked = edge_picture(inputs, "ambulance", [(1, 9)])
    assert unmarked is not None and unmarked.image.tobytes() == plain.image.tobytes()


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_dropping_every_edge_marks_the_edges_its_reason_names(ws):
    """`drop edges *` marks the edges its reason names as the language writes them, else every edge."""
    inputs = gather(Workspace(ws))
    named = Finding("layout", "ambulance", "edge 1->4: grows on turned copies", "medium", "drop edges *", [])
    every = Finding("layout", "ambulance", "most edges change on turned copies", "medium", "drop edges *", [])
    section = suggestions_section(inputs, Suggestions("", [named, every]), {})
    first, second = (_png(re.search(r"<img [^>]*>", a).group(0)) for a in _articles(section).values())
    assert 'alt="c-SCG of ambulance, edge 1-&gt;4 marked"' in section
    plain = pictures.scg_picture(inputs.library, inputs.library.get("ambulance"), ws / "concepts")
    boxes = {p.number: _centre(p.box) for p in plain.layout}
    on_1_4 = tuple(round((a + b) / 2) for a, b in zip(boxes[1], boxes[4]))
    on_2_4 = tuple(round(0.3 * a + 0.7 * b) for a, b in zip(boxes[2], boxes[4]))  # clear of 1->4's band
    before = plain.image.convert("RGB")
    assert first.getpixel(on_1_4) != before.getpixel(on_1_4) and first.getpixel(on_2_4) == before.getpixel(on_2_4)
    assert second.getpixel(on_1_4) != before.getpixel(on_1_4) and second.getpixel(on_2_4) != before.getpixel(on_2_4)


def test_no_findings_says_so_and_the_metadata_is_never_read(ws):
    (ws / "model" / "base.json").unlink()
    library = json.loads((ws / "concepts" / "library.json").read_text())
    for concept in library["classes"][0]["pool"]:
        concept.pop("errors")
    (ws / "concepts" / "library.json").write_text(json.dumps(library))
    (ws / "data").mkdir()
    (ws / "data" / "metadata.jsonl").write_text('{"scenario": "posebias", "spurious": "fire_engine/k09"}\n')
    with_metadata = render(gather(Workspace(ws)))
    assert "No suggestions: no detector found anything" in _section(with_metadata)
    shutil.rmtree(ws / "data")
    assert render(gather(Workspace(ws))) == with_metadata

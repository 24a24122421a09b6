"""`hni report` on a tiny world: one self-contained HTML file, its numbers, its errors, its determinism.

The world is the session's tiny one (tests/hni_engine/conftest.py: (three posebias classes, a dozen images
each, one distillation epoch), copied and
edited once per module (`class X: drop edges *`).
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
from PIL import Image

from hni_engine.cli.app import main


@pytest.fixture(scope="module")
def extracted(tiny_extracted):
    """The session's tiny trained and extracted workspace (copied before any change)."""
    return tiny_extracted


@pytest.fixture(scope="module")
def applied(extracted, tmp_path_factory):
    """The same workspace after `class X: drop edges *` was applied (runs/HEAD names the run)."""
    root = tmp_path_factory.mktemp("report_applied") / "ws"
    shutil.copytree(extracted, root)
    library = json.loads((root / "concepts" / "library.json").read_text())
    entry = next(e for e in library["classes"] if e["graph"]["edges"])
    (root / "edits" / "001_edges.hni").write_text(f"# drop <all> edges & see\nclass {entry['name']}: drop edges *\n")
    assert main(["-w", str(root), "apply", "--device", "cpu"]) == 0
    return root


@pytest.fixture(scope="module")
def report(applied, tmp_path_factory):
    """The default report of the applied workspace: (path, text, run folder)."""
    assert main(["-w", str(applied), "report"]) == 0
    path = applied / "report.html"
    run = applied / "runs" / (applied / "runs" / "HEAD").read_text().strip()
    return path, path.read_text(encoding="utf-8"), run


class _Collect(HTMLParser):
    """Every tag with its attributes, and the text of each table (by id) as rows of cell strings."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.row_attrs: dict[str, list[dict]] = {}
        self._table: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table.append(attrs.get("id") or f"table-{len(self.tables)}")
            self.tables.setdefault(self._table[-1], [])
            self.row_attrs.setdefault(self._table[-1], [])
        elif tag == "tr" and self._table:
            self.tables[self._table[-1]].append([])
            self.row_attrs[self._table[-1]].append(attrs)
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table[-1]][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    parser.close()
    return parser


def _without_suggestions(text: str) -> str:
    """The report less its suggestions section, whose pictures repeat the class sections' cards and graphs
    (test_report_suggestions.py checks them)."""
    start = text.index('<section id="suggestions">')
    return text[:start] + text[text.index("</section>", start) + len("</section>") :]


def test_report_is_one_self_contained_html_file(report):
    path, text, run = report
    assert path.is_file() and text.startswith("<!DOCTYPE html>")
    parsed = _parse(text)
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    shown = [attrs for tag, attrs in _parse(_without_suggestions(text)).tags if tag == "img"]
    classes = json.loads((run / "library.json").read_text())["classes"]
    # each class: its c-SCG, its pool, and each pool concept in its images (a JPEG card, from extraction)
    cards = sum(len(c["pool"]) for c in classes)
    assert len(shown) == 2 * len(classes) + cards
    assert sum(attrs.get("class") == "card" for attrs in shown) == cards
    for attrs in images:
        src = attrs["src"]
        kind = "JPEG" if attrs.get("class") == "card" else "PNG"
        assert src.startswith(f"data:image/{kind.lower()};base64,"), src[:40]
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True))) as img:
            img.verify()
            assert img.format == kind and (img.width, img.height) == (int(attrs["width"]), int(attrs["height"]))
    assert not re.search(r"https?://", text, flags=re.IGNORECASE)
    assert not any(tag in ("script", "link", "iframe") for tag, _ in parsed.tags)
    assert not any("url(" in attrs.get("style", "") for _, attrs in parsed.tags)


def test_report_shows_the_header_classes_and_pools(report, applied):
    _, text, run = report
    extract = json.loads((applied / "concepts" / "extract.json").read_text())
    provenance = json.loads((run / "provenance.json").read_text())
    assert f"{extract['fidelity_test']:.3f}" in text
    assert provenance["model_sha256"][:12] in text and extract["model_sha256"][:12] in text
    parsed = _parse(text)
    pools = [
        rows
        for name, rows in parsed.tables.items()
        if name.startswith("table-") and rows and rows[0][:3] == ["pool[N]", "id", "importance"]
    ]
    library = json.loads((run / "library.json").read_text())
    assert len(pools) == len(library["classes"])
    for rows, entry in zip(pools, library["classes"]):
        body = rows[1:]
        assert [r[1] for r in body] == [c["id"] for c in entry["pool"]]
        assert [r[0] for r in body] == [f"pool[{i}]" for i in range(1, len(entry["pool"]) + 1)]
        pool_ids = {c["id"] for c in entry["pool"]}
        assert {r[1]: r[-1] for r in body if r[-1]} == {
            cid: f"= concept {i}" for i, cid in enumerate(entry["graph"]["nodes"], start=1) if cid in pool_ids
        }


def test_report_shows_the_run_scripts_plan_and_metrics_as_written(report):
    _, text, run = report
    metrics = json.loads((run / "metrics.json").read_text())
    parsed = _parse(text)
    script = next((run / "scripts").iterdir()).read_text()
    assert "# drop &lt;all&gt; edges &amp; see" in text and "# drop <all> edges & see" not in text
    assert script.splitlines()[1] in text
    assert (run / "plan.txt").read_text().splitlines()[0].replace(">", "&gt;") in text
    rows = parsed.tables["accuracy"]
    attrs = parsed.row_attrs["accuracy"]
    by_class = {a["data-class"]: r for r, a in zip(rows, attrs) if "data-class" in a}
    assert list(by_class) == metrics["evaluated_classes"]
    for name, row in by_class.items():
        b, a = metrics["before"]["per_class"][name], metrics["after"]["per_class"][name]
        assert row[1:4] == [f"{b:.3f}", f"{a:.3f}", f"{100 * (a - b):+.1f}"]
        assert ("edited" in row[4]) == (name in metrics["edited_classes"])
    assert rows[-1][1:3] == [f"{metrics['before']['accuracy']:.3f}", f"{metrics['after']['accuracy']:.3f}"]
    mean = parsed.tables["mean-change"]
    for row, key in zip(mean[1:], ("edited", "unedited")):
        summary = metrics["mean_change"][key]
        assert row[1:4] == [f"{summary['before']:.3f}", f"{summary['after']:.3f}", f"{100 * summary['change']:+.1f}"]
    assert f"{metrics['grn']['test_accuracy']:.3f}" in text
    for when in ("before", "after"):
        table = parsed.tables[f"confusion-{when}"]
        assert table[0][1:] == metrics["evaluated_classes"]
        assert [[int(v) for v in r[1:]] for r in table[1:]] == metrics[when]["confusion"]


def test_same_workspace_gives_the_same_bytes(report, applied, tmp_path):
    path, _, _ = report
    again = tmp_path / "again.html"
    assert main(["-w", str(applied), "report", "-o", str(again)]) == 0
    assert again.read_bytes() == path.read_bytes()


def _carded(entry: dict) -> list[tuple[int, dict]]:
    """The pool concepts a report shows cards of, in its order: the c-SCG's nodes first, then the rest."""
    nodes = set(entry["graph"]["nodes"])
    ranked = list(enumerate(entry["pool"], start=1))
    return [(i, c) for i, c in ranked if c["id"] in nodes] + [(i, c) for i, c in ranked if c["id"] not in nodes]


def test_report_without_a_run_and_with_chosen_classes(extracted, tmp_path):
    out = tmp_path / "r.html"
    library = json.loads((extracted / "concepts" / "library.json").read_text())
    names = [e["name"] for e in library["classes"]]
    assert main(["-w", str(extracted), "report", "-o", str(out), "--classes", f"{names[1]}, {names[0]}"]) == 0
    text = out.read_text()
    parsed = _parse(_without_suggestions(text))
    assert "accuracy" not in parsed.tables and 'id="run"' not in text
    assert [a["alt"] for t, a in parsed.tags if t == "img" and a.get("class") != "card"] == [
        f"c-SCG of {names[1]}",
        f"pool of {names[1]}",
        f"c-SCG of {names[0]}",
        f"pool of {names[0]}",
    ]
    cards = [a["alt"] for t, a in parsed.tags if t == "img" and a.get("class") == "card"]
    entries = {e["name"]: e for e in library["classes"]}
    assert cards == [f"pool[{i}] {c['id']} in its images" for n in names[1::-1] for i, c in _carded(entries[n])]


def test_run_named_by_prefix(applied, report, tmp_path):
    _, _, run = report
    out = tmp_path / "r.html"
    assert main(["-w", str(applied), "report", "--run", run.name[:4], "-o", str(out)]) == 0
    assert out.read_bytes() == report[0].read_bytes()


def test_bad_inputs_write_nothing(applied, tmp_path, capsys):
    out = tmp_path / "r.html"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["-w", str(empty), "report", "-o", str(out)]) == 1
    assert "no concepts extracted yet" in capsys.readouterr().err

    run = (applied / "runs" / "HEAD").read_text().strip()
    assert main(["-w", str(applied), "report", "--run", "0009-nothere", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no such run" in err and run in err

    library = json.loads((applied / "concepts" / "library.json").read_text())
    name = library["classes"][0]["name"]
    assert main(["-w", str(applied), "report", "--classes", name + "x", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"unknown class {name + 'x'!r}" in err and f"did you mean {name!r}" in err

    assert main(["-w", str(applied), "report", "--classes", " , ", "-o", str(out)]) == 1
    assert "name at least one class" in capsys.readouterr().err

    assert main(["-w", str(applied), "report", "-o", str(tmp_path / "missing" / "r.html")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert main(["-w", str(applied), "report", "-o", str(tmp_path)]) == 3
    assert "is a folder" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_run_with_a_defined_class_and_no_exemplar_files(applied, tmp_path):
    """A run's library may hold a defined class (no pool, nodes from other classes) and a workspace may lack
    exemplar files: the report shows the run library's classes, and the pictures draw gray boxes."""
    from hni_dsl import load_library, make_plan
    from hni_dsl.library import write_library

    ws = tmp_path / "ws"
    shutil.copytree(applied, ws, ignore=shutil.ignore_patterns(".hni"))
    shutil.rmtree(ws / "concepts" / "patches")
    head = (ws / "runs" / "HEAD").read_text().strip()
    fake = ws / "runs" / "0002-definedz"
    shutil.copytree(ws / "runs" / head, fake)
    library = load_library(fake / "library.json")
    a, b = library.class_names[:2]
    outcome = make_plan(library, [("z.hni", f"define class Zed from {a}.c1, {b}.c2, edges like {a}\n")])
    assert outcome.plan is not None, outcome.diagnostics
    write_library(outcome.library_after, fake / "library.json")
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "--run", fake.name, "-o", str(out)]) == 0
    parsed = _parse(_without_suggestions(out.read_text()))
    alts = [a["alt"] for t, a in parsed.tags if t == "img"]
    assert alts[-2:] == ["c-SCG of Zed", "pool of Zed"]
    assert len(alts) == 2 * len(outcome.library_after.classes)
    src = next(a["src"] for t, a in parsed.tags if t == "img" and a["alt"] == "c-SCG of Zed")
    with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
        colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert (200, 200, 200) in colours  # pictures.MISSING: a concept with no exemplar file


def test_report_shows_what_the_run_did_to_each_class(report):
    """The run's compare.json (the extraction against the run, measured by apply) is a part of each class."""
    _, text, run = report
    recorded = json.loads((run / "compare.json").read_text())
    assert recorded["format"] == "hni-compare/1" and recorded["a"] == "base" and recorded["b"] == run.name
    parsed = _parse(text)
    tables = [rows for name, rows in parsed.tables.items() if rows and rows[0][:2] == ["concept", "in c-SCG"]]
    assert len(tables) == len(recorded["classes"])
    assert text.count(f"Before and after run {run.name}") == len(recorded["classes"])
    for rows, found in zip(tables, recorded["classes"]):
        assert [r[0].split()[0] for r in rows[1:]] == list(found["importance"])
        for row, (a, b) in zip(rows[1:], found["importance"].values()):
            assert row[2] == ("\u2013" if a is None else f"{a:+.2f}") and row[3] == (
                "\u2013" if b is None else f"{b:+.2f}"
            )


def test_a_damaged_comparison_is_refused_by_name(applied, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(applied, ws, ignore=shutil.ignore_patterns(".hni"))
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    found = json.loads((run / "compare.json").read_text())
    found["classes"][0]["accuracy"] = ["high", None]
    (run / "compare.json").write_text(json.dumps(found))
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "compare.json" in err and "classes.0.accuracy" in err and not out.exists()
    (run / "compare.json").write_text(json.dumps({**found, "format": "hni-compare/9", "classes": []}))
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 3
    assert "hni-compare/9" in capsys.readouterr().err and not out.exists()
    (run / "compare.json").unlink()  # a run made before apply recorded it: the report has no such part
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    assert "Before and after run" not in out.read_text()

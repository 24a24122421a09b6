"""Concept names: `hni name` writes names.txt; show and the report print them; scripts still bind to ids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_dsl.library import load_library
from hni_engine.cli.app import main
from hni_engine.store.config import HniConfig, write_config
from hni_engine.store.names import NamesError, load_names, with_names, write_names

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A hand-made workspace: hni.toml and the example library as its extraction."""
    root = tmp_path / "ws"
    (root / "concepts").mkdir(parents=True)
    shutil.copy(EXAMPLES / "library.json", root / "concepts" / "library.json")
    write_config(HniConfig(), root / "hni.toml")
    return root


def _first_concept(ws: Path) -> tuple[str, str]:
    library = json.loads((ws / "concepts" / "library.json").read_text())
    entry = library["classes"][0]
    return entry["name"], entry["pool"][0]["id"]


def test_a_name_shows_in_show_and_survives_in_a_sorted_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cls, cid = _first_concept(ws)
    assert main(["-w", str(ws), "name", cid, "red cross"]) == 0
    assert load_names(ws) == {cid: "red cross"}
    capsys.readouterr()
    assert main(["-w", str(ws), "show", cls, "--pool"]) == 0
    assert f'{cid} "red cross"' in capsys.readouterr().out
    assert main(["-w", str(ws), "name", cid, "ladder"]) == 0
    assert 'was "red cross"' in capsys.readouterr().out
    assert main(["-w", str(ws), "name"]) == 0
    assert f'{cid}  "ladder"' in capsys.readouterr().out
    assert main(["-w", str(ws), "name", cid, "--remove"]) == 0
    assert load_names(ws) == {}


def test_names_leave_ids_and_scripts_alone(ws: Path) -> None:
    _, cid = _first_concept(ws)
    library = load_library(ws / "concepts" / "library.json")
    named = with_names(library, {cid: "ladder"})
    concept = named.concept(cid)
    assert concept is not None and concept.label == "ladder"
    assert [c.id for e in named.classes for c in e.pool] == [c.id for e in library.classes for c in e.pool]
    assert library.concept(cid) is not None and library.concept(cid).label != "ladder"  # type: ignore[union-attr]
    script = ws / "s.hni"
    script.write_text(f"class {library.classes[0].name}: drop edges *\n")
    before = (ws / "concepts" / "library.json").read_bytes()
    assert main(["-w", str(ws), "name", cid, "ladder"]) == 0
    assert main(["-w", str(ws), "check", str(script)]) == 0
    assert (ws / "concepts" / "library.json").read_bytes() == before  # the library is never rewritten


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch/abc123", "x"], "no concept nosuch/abc123"),
        (["{cid}", ""], "cannot be empty"),
        (["{cid}", "a\x1bb"], "control character"),
        (["{cid}", "x" * 65], "at most 64"),
        (["{cid}"], "needs a NAME"),
        (["{cid}", "x", "--remove"], "not both"),
        (["{cid}", "--remove"], "no name to remove"),
    ],
)
def test_bad_names_are_refused_and_change_nothing(
    ws: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    _, cid = _first_concept(ws)
    assert main(["-w", str(ws), "name", *[a.format(cid=cid) for a in argv]]) != 0
    assert message in capsys.readouterr().err
    assert not (ws / "names.txt").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just words\n", "expected"),
        ('a/b "x"\na/b "y"\n', "named twice"),
        ('a/b "unterminated\n', "expected"),
        ('a/b "\\u001b"\n', "control character"),
        ("a/b 12\n", "expected"),
    ],
)
def test_a_damaged_names_file_is_an_error_naming_the_line(ws: Path, text: str, message: str) -> None:
    (ws / "names.txt").write_text(text)
    with pytest.raises(NamesError, match=message) as caught:
        load_names(ws)
    assert "names.txt:" in str(caught.value)


def test_written_names_read_back_with_any_printable_text(tmp_path: Path) -> None:
    names = {"b/2": 'quote " and \\ backslash', "a/1": "échelle 梯子", "c/3": "  spaced  "}
    write_names(tmp_path, names)
    assert load_names(tmp_path) == names
    lines = (tmp_path / "names.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines if not line.startswith("#")] == ["a/1", "b/2", "c/3"]


def test_explain_and_the_report_print_names(
    tiny_extracted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws)
    library = json.loads((ws / "concepts" / "library.json").read_text())
    entry = library["classes"][0]
    node = entry["graph"]["nodes"][0]
    assert main(["-w", str(ws), "name", node, "wheel <b>"]) == 0
    image = next(p for p in sorted((ws / "data" / "test").rglob("*.png")))
    capsys.readouterr()
    assert main(["-w", str(ws), "explain", str(image), "--why-not", entry["name"], "--device", "cpu"]) == 0
    assert f'{node} "wheel <b>"' in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    assert "&ldquo;wheel &lt;b&gt;&rdquo;" in out.read_text()  # escaped, beside the id


def test_plan_prints_names_but_the_plan_itself_is_unchanged(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library = load_library(ws / "concepts" / "library.json")
    entry = next(e for e in library.classes if e.graph.nodes and len(e.pool) > len(e.graph.nodes))
    spare = next(i for i, c in enumerate(entry.pool, start=1) if c.id not in entry.graph.nodes)
    script = ws / "edits" / "01.hni"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"class {entry.name}: replace concept 1 with pool[{spare}]\n")
    assert main(["-w", str(ws), "plan", "--json"]) == 2
    before = capsys.readouterr().out
    assert main(["-w", str(ws), "name", entry.graph.nodes[0], "old part"]) == 0
    capsys.readouterr()
    assert main(["-w", str(ws), "plan"]) == 2
    assert f'{entry.graph.nodes[0]} "old part"' in capsys.readouterr().out
    assert main(["-w", str(ws), "plan", "--json"]) == 2
    assert capsys.readouterr().out == before  # hashes, text and transforms: renaming invalidates no plan

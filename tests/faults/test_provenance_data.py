"""A run records the data it learnt from and was evaluated on; extraction records the data it saw, and every
command that uses the extraction says when the data has changed since (files added, removed, changed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_engine.cli.app import main
from hni_engine.store.datahash import compare, data_state, recorded_state
from hni_engine.store.layout import Layout


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _test_images(root: Path) -> list[Path]:
    return sorted((root / "data" / "test").rglob("*.png"))


def _edge_script(root: Path) -> None:
    entries = json.loads((root / "concepts" / "library.json").read_text())["classes"]
    name = next(e["name"] for e in entries if e["graph"]["edges"])
    (root / "edits" / "001_edges.hni").write_text(f"class {name}: drop edges *\n")


def _warning(err: str) -> str:
    lines = [line for line in err.splitlines() if "the data changed since extraction" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_extraction_records_the_data_it_saw(tiny_extracted):
    layout = Layout(tiny_extracted)
    recorded = recorded_state(layout)
    assert recorded is not None
    now = data_state(layout)
    assert recorded.sha256 == now.sha256
    assert recorded.count("test") == len(_test_images(tiny_extracted))
    extract = json.loads(layout.extract_report_path.read_text())
    assert extract["data"]["sha256"] == now.sha256


def test_removing_one_test_image_gives_another_run_id_and_a_warning(ws, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(ws, other)
    removed = _test_images(other)[0]
    removed.unlink()
    _edge_script(ws)
    _edge_script(other)

    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    assert "the data changed" not in capsys.readouterr().err
    assert main(["-w", str(other), "apply", "--device", "cpu"]) == 0
    line = _warning(capsys.readouterr().err)
    assert "1 file removed" in line and removed.name in line and "Traceback" not in line

    first = (ws / "runs" / "HEAD").read_text().strip()
    second = (other / "runs" / "HEAD").read_text().strip()
    assert first.split("-")[1] != second.split("-")[1]
    prov_a = json.loads((ws / "runs" / first / "provenance.json").read_text())
    prov_b = json.loads((other / "runs" / second / "provenance.json").read_text())
    assert prov_a["data"]["sha256"] == data_state(Layout(ws)).sha256
    assert prov_b["data"]["sha256"] == data_state(Layout(other)).sha256
    assert prov_b["data"]["test_files"] == prov_a["data"]["test_files"] - 1


@pytest.mark.parametrize(
    "command",
    [
        ["show", "{cls}"],
        ["report", "-o", "{out}"],
        ["check"],
        ["plan"],
        ["eval", "--device", "cpu"],
        ["explain", "{image}", "--device", "cpu"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_that_uses_the_extraction_says_the_data_changed(ws, tmp_path, command, capsys):
    _edge_script(ws)
    images = _test_images(ws)
    images[0].unlink()
    images[1].write_bytes(images[2].read_bytes())  # same name, other content
    shutil.copy(images[3], images[3].with_name("added.png"))
    cls = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
    args = [a.format(cls=cls, out=tmp_path / "r.html", image=images[4]) for a in command]
    capsys.readouterr()
    assert main(["-w", str(ws), *args]) in (0, 2)
    line = _warning(capsys.readouterr().err)
    assert "1 file added" in line and "1 file removed" in line and "1 file changed" in line
    assert str(ws / "concepts" / "data.json") in line


def test_unchanged_data_gives_no_warning_and_the_same_hash(ws, capsys):
    assert (
        main(["-w", str(ws), "show", json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]])
        == 0
    )
    assert "data changed" not in capsys.readouterr().err
    assert data_state(Layout(ws)) == data_state(Layout(ws))


def test_a_touched_file_is_no_change_but_new_bytes_are(ws):
    layout = Layout(ws)
    before = data_state(layout)
    image = _test_images(ws)[0]
    image.write_bytes(image.read_bytes())  # new mtime, same bytes
    assert not compare(before, data_state(layout))
    image.write_bytes(image.read_bytes() + b"\0")
    assert compare(before, data_state(layout)).changed == [f"test/{image.parent.name}/{image.name}"]


@pytest.mark.parametrize("content", ["{not json", '{"format": "hni-data/1", "files": []}', "[]"])
def test_an_unreadable_data_record_is_a_warning_not_a_traceback(ws, content, capsys):
    (ws / "concepts" / "data.json").write_text(content)
    cls = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
    assert main(["-w", str(ws), "show", cls]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot tell whether the data changed" in err and str(ws / "concepts" / "data.json") in err

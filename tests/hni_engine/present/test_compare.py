"""`hni compare`: both sides re-measured on their own networks; accuracy agrees with what `hni apply` measured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_engine.cli.app import main


@pytest.fixture(scope="module")
def applied(tiny_extracted: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("compare") / "ws"
    shutil.copytree(tiny_extracted, ws)
    library = json.loads((ws / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if e["graph"]["edges"])
    (ws / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    return ws, name


def test_compare_remeasures_both_networks(applied: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    ws, edited = applied
    run = ws / "runs" / (ws / "runs" / "HEAD").read_text().strip()
    metrics = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["-w", str(ws), "compare", "--json", "--device", "cpu"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["a"] == "base" and found["b"] == run.name
    by_name = {c["name"]: c for c in found["classes"]}
    for name, c in by_name.items():
        before, after = c["accuracy"]
        # the same networks on the same test images as `hni apply` measured them
        assert before == pytest.approx(metrics["before"]["per_class"][name], abs=1e-4)
        assert after == pytest.approx(metrics["after"]["per_class"][name], abs=1e-4)
        assert set(c["importance"]) == set(c["nodes"][0]) | set(c["nodes"][1])
        assert all(v is None or isinstance(v, float) for pair in c["importance"].values() for v in pair)
    assert by_name[edited]["edges"][0] and by_name[edited]["edges"][1] == {}  # the edit dropped every edge
    # The run's library records its own GRN's weights (not the extraction's), each with its edge-drop test.
    for entry in json.loads((run / "library.json").read_text())["classes"]:
        edges = entry["graph"]["edges"]
        assert {f"{e['src']}->{e['dst']}": e["weight"] for e in edges} == by_name[entry["name"]]["edges"][1]
        assert all(isinstance(e["drop"], float) for e in edges)
    # the same concept, two networks: the drops are measured, not copied
    pairs = [pair for c in by_name.values() for pair in c["importance"].values() if None not in pair]
    assert pairs and any(a != b for a, b in pairs)
    # apply recorded the same comparison in the run (the report's part): same networks, same images
    recorded = json.loads((run / "compare.json").read_text())
    assert (recorded["a"], recorded["b"]) == ("base", run.name)
    for c in recorded["classes"]:
        assert c["nodes"] == by_name[c["name"]]["nodes"] and c["edges"] == by_name[c["name"]]["edges"]
        assert c["accuracy"] == pytest.approx(by_name[c["name"]]["accuracy"], abs=1e-4)
        for cid, pair in c["importance"].items():
            assert pair == pytest.approx(by_name[c["name"]]["importance"][cid], abs=1e-3)
    assert main(["-w", str(ws), "compare", "base", run.name[:4], "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert f"comparing base (A) with {run.name} (B)" in text and f"{edited}: test accuracy" in text


def test_compare_without_a_run_says_so(tiny_extracted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-w", str(tiny_extracted), "compare", "--device", "cpu"]) == 1
    assert "no run to compare" in capsys.readouterr().err

"""`hni runs`, `hni checkout`, `hni runs --prune`, and `hni apply` applying only what is new.

Most cases use run folders written by hand (hni_engine.store's tests build the same); one walks the
review workflow end to end on the tiny extracted world, with real applies.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hni_engine.cli.app import main
from hni_engine.store import history
from hni_engine.store.config import write_config
from hni_engine.store.layout import Layout
from hni_engine.store.runs import FAILED_FILE, move_head

HOLD = textwrap.dedent(
    """
    import sys, time
    from hni_engine.store.layout import Layout
    from hni_engine.store.lock import writer_lock
    with writer_lock(Layout(sys.argv[1]), "hni apply edits/held.hni"):
        print("locked", flush=True)
        time.sleep(30)
    """
)


def make_run(layout: Layout, run: str, parent: str | None, scripts: tuple[str, ...], before=0.5, after=0.75) -> None:
    """A complete run folder as `hni apply` writes it: the files HEAD needs, and the records `hni runs` reads."""
    folder = layout.runs_dir / run
    folder.mkdir(parents=True)
    for name in ("library.json", "model.pt", "classes.json"):
        (folder / name).write_text("{}")
    (folder / "metrics.json").write_text(json.dumps({"before": {"accuracy": before}, "after": {"accuracy": after}}))
    entries = [{"path": f"ws/edits/{s}", "sha256": "0" * 64, "status": "planned"} for s in scripts]
    provenance = {"parent_run": parent, "scripts": entries, "created": "2025-01-02T03:04:05Z"}
    (folder / "provenance.json").write_text(json.dumps(provenance))


def make_failed(layout: Layout, run: str, parent: str | None) -> None:
    folder = layout.runs_dir / run
    folder.mkdir(parents=True)
    record = {"status": "failed", "stage": "distil", "reason": "loss is nan", "parent_run": parent, "scripts": []}
    (folder / FAILED_FILE).write_text(json.dumps(record))


@pytest.fixture
def ws(tmp_path, make_tiny_config) -> Path:
    """A workspace (hni.toml) with runs written by hand: base <- 0001 <- 0002 (HEAD); 0001 <- 0003; 0004 failed."""
    root = tmp_path / "ws"
    root.mkdir()
    write_config(make_tiny_config(), root / "hni.toml")
    layout = Layout(root)
    make_run(layout, "0001-aaaaaaaa", None, scripts=("001_a.hni",), before=0.5, after=0.625)
    make_run(layout, "0002-bbbbbbbb", "0001-aaaaaaaa", scripts=("002_b.hni",), before=0.625, after=0.875)
    make_run(layout, "0003-cccccccc", "0001-aaaaaaaa", scripts=("002_other.hni",))
    make_failed(layout, "0004-dddddddd", "0002-bbbbbbbb")
    move_head(layout, "0002-bbbbbbbb")
    return root


def _head(ws: Path) -> str | None:
    head = ws / "runs" / "HEAD"
    return head.read_text().strip() if head.exists() else None


def _runs(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / "runs").iterdir() if p.is_dir())


def test_runs_lists_parents_scripts_accuracy_and_marks_head(ws, capsys):
    assert main(["-w", str(ws), "runs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in out.splitlines()}
    assert lines["0002-bbbbbbbb"].startswith("*")
    assert lines["0002-bbbbbbbb"].split()[1:7] == [
        "0002-bbbbbbbb", "0001-aaaaaaaa", "complete", "0.625", "0.875", "2025-01-02T03:04:05Z",
    ]  # fmt: skip
    assert lines["0002-bbbbbbbb"].endswith("002_b.hni")
    assert lines["0001-aaaaaaaa"].split()[1] == "base"
    assert "failed" in lines["0004-dddddddd"] and "(failed at distil: loss is nan)" in lines["0004-dddddddd"]
    assert "HEAD: 0002-bbbbbbbb" in out and "2 runs that HEAD does not build on" in out


def test_runs_json(ws, capsys):
    assert main(["-w", str(ws), "runs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["head"] == "0002-bbbbbbbb" and data["chain"] == ["0002-bbbbbbbb", "0001-aaaaaaaa"]
    runs = {r["id"]: r for r in data["runs"]}
    assert runs["0002-bbbbbbbb"] == {
        "id": "0002-bbbbbbbb",
        "status": "complete",
        "parent": "0001-aaaaaaaa",
        "scripts": ["002_b.hni"],
        "before_accuracy": 0.625,
        "after_accuracy": 0.875,
        "created": "2025-01-02T03:04:05Z",
        "failure": None,
        "problem": None,
        "head": True,
        "on_head_chain": True,
    }
    assert runs["0001-aaaaaaaa"]["parent"] == "base" and runs["0003-cccccccc"]["on_head_chain"] is False
    assert runs["0004-dddddddd"]["status"] == "failed"


def test_runs_of_a_workspace_without_runs_and_outside_one(tmp_path, make_tiny_config, capsys):
    assert main(["-w", str(tmp_path), "runs"]) == 1
    assert "not an hni workspace" in capsys.readouterr().err
    write_config(make_tiny_config(), tmp_path / "hni.toml")
    assert main(["-w", str(tmp_path), "runs"]) == 0
    out = capsys.readouterr().out
    assert "no runs yet" in out and "HEAD: base (the extraction)" in out
    assert main(["-w", str(tmp_path), "runs", "--dry-run"]) == 3
    assert "--dry-run goes with --prune" in capsys.readouterr().err


def test_checkout_moves_head_and_says_what_apply_builds_on(ws, capsys):
    assert main(["-w", str(ws), "checkout", "0001"]) == 0
    out = capsys.readouterr().out
    assert "HEAD was 0002-bbbbbbbb" in out and "HEAD is now 0001-aaaaaaaa" in out
    assert "`hni apply` now builds on run 0001-aaaaaaaa" in out
    assert _head(ws) == "0001-aaaaaaaa"
    assert main(["-w", str(ws), "checkout", "base"]) == 0
    out = capsys.readouterr().out
    assert "HEAD is now base" in out and "`hni apply` now builds on the extraction" in out
    assert _head(ws) is None
    assert _runs(ws) == ["0001-aaaaaaaa", "0002-bbbbbbbb", "0003-cccccccc", "0004-dddddddd"]  # nothing deleted
    assert main(["-w", str(ws), "checkout", "base"]) == 0
    assert "HEAD is already base; nothing changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ("0004", "run 0004-dddddddd failed at distil: loss is nan; it has no network to build on"),
        ("0005", "run 0005-eeeeeeee is incomplete (library.json, model.pt, classes.json, metrics.json missing"),
        ("0009", "no run '0009'"),
        ("000", "'000' matches several runs"),
    ],
)
def test_checkout_refuses_failed_incomplete_and_unknown_runs(ws, capsys, wanted, message):
    (ws / "runs" / "0005-eeeeeeee").mkdir()
    assert main(["-w", str(ws), "checkout", wanted]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hni checkout: error: ") and message in err
    assert _head(ws) == "0002-bbbbbbbb"


def test_prune_dry_run_then_prune_keeps_heads_chain(ws, capsys):
    (ws / "runs" / "0005-eeeeeeee").mkdir()  # neither complete nor failed: left for a person
    assert main(["-w", str(ws), "runs", "--prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove 0003-cccccccc (on 0001-aaaaaaaa; 002_other.hni; complete)" in out
    assert "would remove 0004-dddddddd" in out and "nothing removed (--dry-run)" in out
    assert len(_runs(ws)) == 5
    assert main(["-w", str(ws), "runs", "--prune"]) == 0
    out = capsys.readouterr().out
    assert "removed 0003-cccccccc" in out and "removed 0004-dddddddd" in out
    assert "kept HEAD's chain: 0002-bbbbbbbb, 0001-aaaaaaaa" in out
    assert _runs(ws) == ["0001-aaaaaaaa", "0002-bbbbbbbb", "0005-eeeeeeee"]
    assert main(["-w", str(ws), "runs", "--prune"]) == 0
    assert "nothing to prune" in capsys.readouterr().out


def test_an_interrupted_prune_is_never_misread_and_the_next_writer_finishes_it(ws, capsys, monkeypatch):
    def killed(path, *args, **kwargs):
        (path / "model.pt").unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(history.shutil, "rmtree", killed)
    assert main(["-w", str(ws), "runs", "--prune"]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["-w", str(ws), "runs", "--json"]) == 0  # a reader: the half-deleted run is not a run
    captured = capsys.readouterr()
    assert "0003-cccccccc" not in [r["id"] for r in json.loads(captured.out)["runs"]]
    assert "leftover" in captured.err and ".0003-cccccccc.pruned-" in captured.err
    assert main(["-w", str(ws), "doctor"]) == 1
    assert "a run `hni runs --prune` was removing; fix: remove it" in capsys.readouterr().out
    assert main(["-w", str(ws), "runs", "--prune"]) == 0  # a writer: repairs first, then prunes the rest
    captured = capsys.readouterr()
    assert "repaired what an interrupted command left" in captured.err and "removed 0004-dddddddd" in captured.out
    assert [p.name for p in (ws / "runs").iterdir() if p.name.startswith(".")] == []
    assert main(["-w", str(ws), "doctor"]) == 0


def test_checkout_and_prune_take_the_lock_listing_does_not(ws, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert main(["-w", str(ws), "checkout", "base"]) == 1
        assert f"PID {holder.pid}" in capsys.readouterr().err
        assert main(["-w", str(ws), "runs", "--prune"]) == 1
        assert f"PID {holder.pid}" in capsys.readouterr().err
        assert main(["-w", str(ws), "runs"]) == 0 and main(["-w", str(ws), "runs", "--prune", "--dry-run"]) == 0
    finally:
        holder.kill()
        holder.wait()
    assert _head(ws) == "0002-bbbbbbbb" and len(_runs(ws)) == 4


# -- end to end: apply only what is new, a changed script, going back, pruning -----------------------------


def _library(ws: Path) -> dict:
    return json.loads((ws / "concepts" / "library.json").read_text())


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_review_workflow_applies_only_what_is_new(tiny_extracted, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws)
    classes = _library(ws)["classes"]
    with_edges = next(e["name"] for e in classes if e["graph"]["edges"])
    other = next(e["name"] for e in classes if e["name"] != with_edges)
    first, second = ws / "edits" / "001_edges.hni", ws / "edits" / "002_drop.hni"
    first.write_text(f"class {with_edges}: drop edges *\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    assert f"scripts: new, applied in this order: {first}\n" in capsys.readouterr().out
    run1 = _head(ws)

    second.write_text(f"class {other}: drop concept 1\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"scripts: new, applied in this order: {second}; already applied, skipped: {first}\n" in out
    run2 = _head(ws)
    assert run2 != run1
    provenance = json.loads((ws / "runs" / str(run2) / "provenance.json").read_text())
    assert provenance["parent_run"] == run1

    assert main(["-w", str(ws), "runs", "--json"]) == 0
    runs = {r["id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    metrics = json.loads((ws / "runs" / str(run2) / "metrics.json").read_text())
    assert runs[run1]["parent"] == "base" and runs[run1]["scripts"] == ["001_edges.hni"]
    assert runs[run2]["parent"] == run1 and runs[run2]["scripts"] == ["002_drop.hni"] and runs[run2]["head"]
    assert runs[run2]["after_accuracy"] == metrics["after"]["accuracy"]

    # A script edited after it was applied is refused, named with both hashes; nothing changes.
    old_sha = hashlib.sha256(first.read_bytes()).hexdigest()
    first.write_text(first.read_text() + "# reviewed: keep the edges of the ladder\n")
    new_sha = hashlib.sha256(first.read_bytes()).hexdigest()
    before = _snapshot(ws)
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"{first} (sha256 {old_sha[:12]} when applied as {first}, {new_sha[:12]} now)" in err
    assert f"run {run2} already holds the old text" in err and "nothing applied" in err
    assert "new script" in err and "hni checkout" in err
    assert _snapshot(ws) == before
    assert main(["-w", str(ws), "plan"]) in (0, 2)  # planning says so too, on stderr
    err = capsys.readouterr().err
    assert f"warning: {first} (sha256 {old_sha[:12]}" in err and "`hni apply` refuses it" in err
    saved = tmp_path / "plan.json"  # a saved plan of the changed script is refused the same way
    assert main(["-w", str(ws), "plan", "-o", str(saved)]) in (0, 2)
    assert main(["-w", str(ws), "apply", str(saved), "--device", "cpu"]) == 1
    assert f"{new_sha[:12]} now" in capsys.readouterr().err

    # Back to the extraction: both scripts are new there, and apply builds a run on base.
    assert main(["-w", str(ws), "checkout", "base"]) == 0
    out = capsys.readouterr().out
    assert f"HEAD was {run2}" in out and "`hni apply` would apply 001_edges.hni, 002_drop.hni" in out
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    assert f"scripts: new, applied in this order: {first}, {second}\n" in capsys.readouterr().out
    run3 = _head(ws)
    assert json.loads((ws / "runs" / str(run3) / "provenance.json").read_text())["parent_run"] is None

    # The first two runs are a side branch now: pruning removes them, and the new HEAD stays whole.
    assert main(["-w", str(ws), "runs", "--prune"]) == 0
    out = capsys.readouterr().out
    assert f"removed {run1}" in out and f"removed {run2}" in out
    assert _runs(ws) == [run3]
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    assert "nothing to apply" in capsys.readouterr().out
    assert main(["-w", str(ws), "doctor"]) == 0

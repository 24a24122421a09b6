"""Case 2: one writer at a time. A second writer refuses at once and names the holder, or queues with --wait."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hni_engine.cli.app import main
from hni_engine.store.layout import Layout
from hni_engine.store.lock import lock_holder, writer_lock
from hni_engine.store.runs import run_ids

HOLD = textwrap.dedent(
    """
    import sys, time
    from hni_engine.store.layout import Layout
    from hni_engine.store.lock import writer_lock
    with writer_lock(Layout(sys.argv[1]), "hni apply edits/held.hni"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _hold(ws: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def test_a_second_writer_refuses_at_once_naming_the_holder(ws, capsys):
    holder = _hold(ws, 30)
    try:
        assert lock_holder(Layout(ws)) is not None
        start = time.monotonic()
        assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 1
        assert time.monotonic() - start < 5
        err = capsys.readouterr().err
        assert f"PID {holder.pid}" in err and "hni apply edits/held.hni" in err and "--wait" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert main(["-w", str(ws), "doctor", "--fix"]) == 1  # doctor --fix is a writer too
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(Layout(ws)) is None  # the kernel dropped it with its holder: no stale lock


def test_wait_queues_behind_the_holder(ws, capsys):
    holder = _hold(ws, 2)
    try:
        start = time.monotonic()
        assert main(["-w", str(ws), "doctor", "--fix", "--wait"]) == 0
        assert time.monotonic() - start > 1
        assert "waiting for the workspace lock" in capsys.readouterr().err
    finally:
        holder.wait()


def test_readers_do_not_wait_for_the_lock(ws, capsys):
    holder = _hold(ws, 30)
    try:
        name = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
        assert main(["-w", str(ws), "show", name]) == 0
        (ws / "edits" / "a.hni").write_text(f"class {name}: drop edges *\n")
        assert main(["-w", str(ws), "check", str(ws / "edits" / "a.hni")]) == 0
        assert "leftover" not in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_lock_in_a_read_only_place_is_a_clear_error(tmp_path, monkeypatch):
    from hni_engine.store.layout import WorkspaceError

    (tmp_path / "hni.toml").write_text("")

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(WorkspaceError, match="read-only"), writer_lock(Layout(tmp_path), "hni test"):
        pass


def test_two_concurrent_applies_both_land_in_order(ws):
    """Both queue with --wait: neither edit is lost, and the second run's parent is the first."""
    library = json.loads((ws / "concepts" / "library.json").read_text())
    names = [e["name"] for e in library["classes"] if e["graph"]["edges"]]
    scripts = []
    other = next(e["name"] for e in library["classes"] if e["name"] != names[0])
    for i, name in enumerate([names[0], other]):
        path = ws / f"edit{i}.hni"
        verb = "drop edges *" if i == 0 else "drop concept 1"
        path.write_text(f"class {name}: {verb}\n")
        scripts.append(path)
    env = {**os.environ, "HNI_QUIET": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hni_engine.cli", "-w", str(ws), "apply", str(s), "--wait", "--device", "cpu"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for s in scripts
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = run_ids(Layout(ws))
    assert len(runs) == 2
    parents = [json.loads((ws / "runs" / r / "provenance.json").read_text())["parent_run"] for r in runs]
    assert parents == [None, runs[0]]
    head = (ws / "runs" / "HEAD").read_text().strip()
    assert head == runs[1]
    applied = json.loads((ws / "runs" / head / "library.json").read_text())["applied"]
    assert len(applied) == 2


def test_readers_never_see_a_half_written_run(ws, capsys):
    """What a writer is building sits in a hidden staged folder; HEAD moves only once the run is whole."""
    staged = ws / "runs" / ".0001-abcdef12.partial-0123abcd"
    staged.mkdir(parents=True)
    (staged / "library.json").write_text("{half")
    holder = _hold(ws, 30)  # a writer is at work: the staged folder is its, not a leftover
    try:
        assert run_ids(Layout(ws)) == []
        name = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
        assert main(["-w", str(ws), "show", name]) == 0
        assert main(["-w", str(ws), "report", "-o", str(ws / "r.html")]) == 0
        assert main(["-w", str(ws), "report", "--run", "0001", "-o", str(ws / "r2.html")]) == 1
        err = capsys.readouterr().err
        assert "leftover" not in err and "no such run" in err
    finally:
        holder.kill()
        holder.wait()

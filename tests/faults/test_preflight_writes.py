"""Fail before the work: a read-only workspace, a full disk or an output that cannot be written is refused
by `train`, `extract`, `apply` and `report` before anything is computed, in one line, with nothing written.

Tests may run as root, whom file modes do not stop: there the check is told which folders are read-only
(the modes are set as well, so a run as another user tests the real thing).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from hni_engine.cli.app import main
from hni_engine.store import preflight
from hni_engine.store.layout import inside

EDIT = "001_edges.hni"


def snapshot(root: Path) -> dict[str, str]:
    """Every file of the workspace (the cache aside) and its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".hni" not in p.relative_to(root).parts
    }


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    (target / "edits" / EDIT).write_text(f"class {_a_class_with_edges(target)}: drop edges *\n")
    return target


def _a_class_with_edges(root: Path) -> str:
    entries = json.loads((root / "concepts" / "library.json").read_text())["classes"]
    return next(e["name"] for e in entries if e["graph"]["edges"])


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: make a folder and everything below it read-only, for as long as the test runs."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
                made.append(path)
        if os.access(folder, os.W_OK):  # root: modes do not stop writes, so the check is told instead
            real = preflight.writable
            monkeypatch.setattr(preflight, "writable", lambda path: not inside(path, folder) and real(path))

    yield make
    for path in made:
        path.chmod(0o755)


@pytest.fixture
def no_work(monkeypatch):
    """Any of the long stages starting is a failure of the test: the refusal comes first."""

    def started(*args, **kwargs):
        raise AssertionError("the work started before the check")

    monkeypatch.setattr("hni_engine.cli.build_commands.train_classifier", started)
    monkeypatch.setattr("hni_engine.cli.build_commands.extract", started)
    monkeypatch.setattr("hni_engine.cli.apply_command.apply_plan_to_network", started)
    monkeypatch.setattr("hni_engine.present.report.gather", started)


COMMANDS = {
    "train": ["train", "--force", "--device", "cpu"],
    "extract": ["extract", "--device", "cpu"],
    "apply": ["apply", "--device", "cpu"],
    "report": ["report"],
}


def _one_line_error(err: str, *words: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_read_only_workspace_is_refused_before_the_work(ws, command, read_only, no_work, capsys):
    before = snapshot(ws)
    read_only(ws)
    capsys.readouterr()
    assert main(["-w", str(ws), *COMMANDS[command]]) != 0
    line = _one_line_error(capsys.readouterr().err, "not writable")
    assert str(ws) in line
    assert snapshot(ws) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_too_little_free_space_is_refused_before_the_work(ws, command, monkeypatch, no_work, capsys):
    before = snapshot(ws)
    monkeypatch.setattr(preflight, "free_bytes", lambda path: 1000)
    capsys.readouterr()
    assert main(["-w", str(ws), *COMMANDS[command]]) == 1
    line = _one_line_error(capsys.readouterr().err, "not enough free disk space", "0.0 MB free")
    assert str(ws) in line
    assert snapshot(ws) == before


def test_enough_free_space_is_not_refused(ws, monkeypatch):
    monkeypatch.setattr(preflight, "free_bytes", lambda path: 1 << 40)
    preflight.before_report(ws / "report.html")


def test_a_report_into_a_missing_folder_is_refused_before_the_work(ws, no_work, capsys):
    before = snapshot(ws)
    target = ws / "nonexistent" / "dir" / "x.html"
    assert main(["-w", str(ws), "report", "-o", str(target)]) == 3
    _one_line_error(capsys.readouterr().err, str(target), "does not exist")
    assert snapshot(ws) == before


def test_a_report_into_a_read_only_folder_is_refused_before_the_work(ws, tmp_path, read_only, no_work, capsys):
    out = tmp_path / "out"
    out.mkdir()
    read_only(out)
    before = snapshot(ws)
    assert main(["-w", str(ws), "report", "-o", str(out / "x.html")]) == 3
    _one_line_error(capsys.readouterr().err, str(out / "x.html"), "not writable")
    assert snapshot(ws) == before
    assert not list(out.iterdir())


def test_a_report_into_a_folder_given_as_the_file_is_refused(ws, no_work, capsys):
    assert main(["-w", str(ws), "report", "-o", str(ws / "concepts")]) == 3
    _one_line_error(capsys.readouterr().err, "is a folder")


def test_a_read_only_cache_is_refused_before_extraction(ws, read_only, no_work, capsys):
    cache = ws / ".hni" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    read_only(cache)
    assert main(["-w", str(ws), "extract", "--device", "cpu"]) == 1
    _one_line_error(capsys.readouterr().err, str(cache), "not writable")


@pytest.mark.parametrize("command", ["show", "explain"])
def test_a_picture_into_a_read_only_folder_is_refused_before_the_work(ws, tmp_path, read_only, command, capsys):
    out = tmp_path / "out"
    out.mkdir()
    read_only(out)
    cls = json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]
    image = next((ws / "data" / "test").rglob("*.png"))
    args = [cls] if command == "show" else [str(image), "--device", "cpu"]
    assert main(["-w", str(ws), command, *args, "--png", str(out / "x.png")]) == 3
    _one_line_error(capsys.readouterr().err, str(out / "x.png"), "not writable")
    assert not list(out.iterdir())


def test_a_report_over_a_read_only_file_is_refused_before_the_work(ws, tmp_path, monkeypatch, no_work, capsys):
    target = tmp_path / "old.html"
    target.write_text("the old report")
    target.chmod(stat.S_IRUSR | stat.S_IRGRP)
    if os.access(target, os.W_OK):  # root: modes do not stop writes, so the check is told instead
        real = preflight.writable
        monkeypatch.setattr(preflight, "writable", lambda path: Path(path) != target and real(path))
    assert main(["-w", str(ws), "report", "-o", str(target)]) == 3
    _one_line_error(capsys.readouterr().err, str(target), "not writable")
    assert target.read_text() == "the old report"

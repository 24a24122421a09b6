"""Case 5: what an interrupted command leaves is recognised, reported by `hni doctor` and repaired.

Each state below is one a kill -9 can leave at some instant of a staged write (hni_dsl.fileio) or of
a HEAD move (hni_engine.store.runs); the kill test (test_kill.py, slow) reaches them by killing real
processes at random points.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_engine.cli.app import main
from hni_engine.store.runs import PENDING_HEAD

from .checks import tree_digest


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _class(ws: Path) -> str:
    return json.loads((ws / "concepts" / "library.json").read_text())["classes"][0]["name"]


def test_a_sound_workspace_is_reported_sound(ws, capsys):
    assert main(["-w", str(ws), "doctor"]) == 0
    assert "no damage found" in capsys.readouterr().out


def test_killed_between_the_two_renames_of_extract_rolls_back(ws, capsys):
    """concepts/ set aside, the new one never renamed in: the old one comes back, the new one goes."""
    before, name = tree_digest(ws, skip=(".hni",)), _class(ws)
    (ws / "concepts").rename(ws / ".concepts.old-0123abcd")
    (ws / ".concepts.partial-4567cdef").mkdir()
    (ws / ".concepts.partial-4567cdef" / "library.json").write_text("{half")
    assert main(["-w", str(ws), "doctor"]) == 1
    out = capsys.readouterr().out
    assert ".concepts.old-0123abcd: concepts was set aside and never replaced; fix: put it back" in out
    assert ".concepts.partial-4567cdef" in out
    assert main(["-w", str(ws), "show", name]) == 1  # a reader says what is wrong and how to fix it
    assert "hni doctor --fix" in capsys.readouterr().err
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert tree_digest(ws, skip=(".hni",)) == before
    assert main(["-w", str(ws), "doctor"]) == 0


def test_killed_before_head_moved_finishes_the_move(ws, capsys):
    (ws / "edits" / "a.hni").write_text(f"class {_class(ws)}: drop concept 1\n")
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = (ws / "runs" / "HEAD").read_text().strip()
    # the state of a kill after the run folder was renamed into place, before HEAD was written
    (ws / "runs" / "HEAD").unlink()
    (ws / "runs" / PENDING_HEAD).write_text(run + "\n")
    assert main(["-w", str(ws), "doctor"]) == 1
    assert f"move HEAD to run {run}" in capsys.readouterr().out
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert (ws / "runs" / "HEAD").read_text().strip() == run
    assert not (ws / "runs" / PENDING_HEAD).exists()


def test_a_journal_for_a_run_never_renamed_is_forgotten(ws):
    (ws / "runs").mkdir()
    (ws / "runs" / PENDING_HEAD).write_text("0001-deadbeef\n")
    (ws / "runs" / ".0001-deadbeef.partial-89abcdef").mkdir()
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert sorted(p.name for p in (ws / "runs").iterdir()) == []
    assert not (ws / "runs" / "HEAD").exists()


def test_temp_files_of_atomic_writes_are_removed_by_the_next_writer(ws, capsys):
    before = tree_digest(ws, skip=(".hni",))
    temp = ws / "model" / ".base.pt.ab12cd_9.tmp"
    temp.write_bytes(b"half a checkpoint")
    cache_temp = ws / ".hni" / "cache" / ".entry.pt.zz99yy00.tmp"
    cache_temp.parent.mkdir(parents=True, exist_ok=True)
    cache_temp.write_bytes(b"half")
    # `hni train` refuses (a model exists), but only after taking the lock and repairing the leftovers
    assert main(["-w", str(ws), "train", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "repaired what an interrupted command left" in err and ".base.pt.ab12cd_9.tmp" in err
    assert not temp.exists() and not cache_temp.exists()
    assert tree_digest(ws, skip=(".hni",)) == before


def test_head_naming_a_missing_run_is_reported_and_reset(ws, capsys):
    (ws / "runs").mkdir()
    (ws / "runs" / "HEAD").write_text("0007-gone\n")
    assert main(["-w", str(ws), "doctor"]) == 1
    assert "names run '0007-gone'" in capsys.readouterr().out
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert not (ws / "runs" / "HEAD").exists()
    assert main(["-w", str(ws), "show", _class(ws)]) == 0


def test_an_incomplete_run_folder_is_reported_not_deleted(ws, capsys):
    (ws / "runs" / "0001-abcdef12").mkdir(parents=True)
    (ws / "runs" / "0001-abcdef12" / "notes.txt").write_text("mine")
    assert main(["-w", str(ws), "doctor", "--fix"]) == 1
    assert "not repaired automatically" in capsys.readouterr().out
    assert (ws / "runs" / "0001-abcdef12" / "notes.txt").read_text() == "mine"


def test_doctor_outside_a_workspace_is_a_clear_error(tmp_path, capsys):
    assert main(["-w", str(tmp_path), "doctor"]) == 1
    assert "not an hni workspace" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_files_of_the_user_that_look_like_leftovers_are_never_touched(ws, capsys):
    """Only names hni itself writes are leftovers: a dated backup or a hidden note stays where it is."""
    mine = [
        ws / "edits" / ".ideas.abcdefgh.tmp",
        ws / ".todo.20261203.tmp",
        ws / ".model.old-20261203" / "backup.pt",
        ws / "edits" / ".drafts.partial-20261203" / "x.hni",
    ]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    assert main(["-w", str(ws), "doctor"]) == 0
    assert main(["-w", str(ws), "train", "--device", "cpu"]) == 1  # a writer: it repairs leftovers first
    assert "repaired" not in capsys.readouterr().err
    assert all(p.read_text() == "mine" for p in mine)


def test_a_lock_planted_as_a_symlink_never_writes_through_it(ws, tmp_path, capsys):
    outside = tmp_path / "outside.txt"
    outside.write_text("important")
    (ws / ".hni").mkdir(exist_ok=True)
    (ws / ".hni" / "lock").symlink_to(outside)
    assert main(["-w", str(ws), "train", "--device", "cpu"]) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert main(["-w", str(ws), "doctor"]) == 1
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert outside.read_text() == "important"
    assert not (ws / ".hni" / "lock").is_symlink()


def test_two_set_aside_copies_of_a_missing_folder_are_left_for_a_person(ws, capsys):
    shutil.copytree(ws / "concepts", ws / ".concepts.old-11111111")
    (ws / ".concepts.old-11111111" / "mark").write_text("mark")
    (ws / "concepts").rename(ws / ".concepts.old-22222222")
    assert main(["-w", str(ws), "doctor", "--fix"]) == 1
    out = capsys.readouterr().out
    assert "one of 2 set-aside copies of missing concepts" in out and "put it back" not in out
    assert (ws / ".concepts.old-11111111").is_dir() and (ws / ".concepts.old-22222222").is_dir()
    assert not (ws / "concepts").exists()


def test_a_ray_train_checkpoint_of_an_interrupted_apply_is_removed(ws, capsys):
    left = ws / ".hni" / "ray-train" / "distill-20261203-101500"
    (left / "checkpoint_x").mkdir(parents=True)
    (left / "checkpoint_x" / "student.pt").write_bytes(b"weights")
    mine = ws / ".hni" / "ray-train" / "my-notes"  # not a name hni gives: never touched
    mine.mkdir()
    assert main(["-w", str(ws), "doctor"]) == 1
    assert "distill-20261203-101500: a Ray Train checkpoint an interrupted command left" in capsys.readouterr().out
    assert main(["-w", str(ws), "doctor", "--fix"]) == 0
    assert not left.exists() and mine.is_dir()

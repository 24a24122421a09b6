"""staged_folder: a folder appears whole or not at all, and a replaced one comes back if the swap fails."""

from __future__ import annotations

import pytest

from hni_dsl.fileio import staged_folder


def names(path):
    return sorted(p.name for p in path.iterdir())


def test_the_folder_appears_only_when_the_block_ends(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target) as built:
        (built / "a.txt").write_text("1")
        assert not target.exists() and built.parent == tmp_path and built.name.startswith(".out.partial-")
    assert names(tmp_path) == ["out"] and (target / "a.txt").read_text() == "1"


def test_a_failing_block_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), staged_folder(tmp_path / "out") as built:
        (built / "a.txt").write_text("1")
        raise KeyboardInterrupt
    assert names(tmp_path) == []


def test_replace_swaps_and_a_failed_block_keeps_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target, replace=True) as built:
        (built / "new.txt").write_text("new")
        raise RuntimeError("stop")
    assert names(tmp_path) == ["out"] and names(target) == ["old.txt"]
    with staged_folder(target, replace=True) as built:
        (built / "new.txt").write_text("new")
    assert names(tmp_path) == ["out"] and names(target) == ["new.txt"]


def test_an_existing_target_is_refused_without_replace(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError), staged_folder(tmp_path / "out") as built:
        (built / "a.txt").write_text("1")
    assert names(tmp_path) == ["out"]


def test_before_swap_can_stop_the_swap(tmp_path):
    def refuse():
        raise ValueError("filled meanwhile")

    with pytest.raises(ValueError), staged_folder(tmp_path / "out", before_swap=refuse):
        pass
    assert names(tmp_path) == []

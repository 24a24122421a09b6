"""`hni fmt`: CRLF is not canonical, `--write` goes through symlinks, and a failed write leaves the file whole."""

from __future__ import annotations

import os
from pathlib import Path

from hni_engine.cli.app import main

LIBRARY = Path(__file__).resolve().parents[2] / "examples" / "library.json"

CANONICAL = "class fire_engine: replace concept 2 with pool[7]; drop edge 2->4\n"
MESSY = "class  fire_engine :replace concept 02 with pool[7];drop edge 2 -> 4\n"


def test_check_notices_crlf_line_endings(tmp_path, capsys):
    script = tmp_path / "crlf.hni"
    script.write_bytes(CANONICAL.replace("\n", "\r\n").encode())
    assert main(["fmt", "--check", str(script)]) == 1
    assert capsys.readouterr().err == f"would reformat {script}\n"


def test_check_passes_a_canonical_lf_file(tmp_path, capsys):
    script = tmp_path / "lf.hni"
    script.write_bytes(CANONICAL.encode())
    assert main(["fmt", "--check", str(script)]) == 0
    assert capsys.readouterr().err == ""


def test_write_turns_crlf_into_lf(tmp_path, capsys):
    script = tmp_path / "crlf.hni"
    script.write_bytes(b"# note\r\nclass fire_engine:\r\n    drop edge 2->4\r\n")
    assert main(["fmt", "--write", str(script)]) == 0
    assert script.read_bytes() == b"# note\nclass fire_engine:\n    drop edge 2->4\n"
    assert main(["fmt", "--check", str(script)]) == 0


def test_a_lone_carriage_return_is_not_a_line_break(tmp_path, capsys):
    # On disk "\r" alone ends no line of the language: it is refused, not read as a newline.
    script = tmp_path / "cr.hni"
    script.write_bytes(b"class fire_engine: drop edge 2->4\rclass ambulance: drop edge 1->3\n")
    assert main(["fmt", "--check", str(script)]) == 1
    err = capsys.readouterr().err
    assert "U+000D" in err and "\r" not in err


def test_write_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path, capsys):
    target = tmp_path / "real" / "edit.hni"
    target.parent.mkdir()
    target.write_text(MESSY)
    os.chmod(target, 0o640)
    link = tmp_path / "edit.hni"
    link.symlink_to(os.path.relpath(target, tmp_path))
    assert main(["fmt", "--write", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert target.read_text() == CANONICAL
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in target.parent.iterdir()) == ["edit.hni"]  # no temp file left beside it


def test_write_through_a_chain_of_symlinks(tmp_path):
    target = tmp_path / "edit.hni"
    target.write_text(MESSY)
    (tmp_path / "one.hni").symlink_to(target)
    (tmp_path / "two.hni").symlink_to(tmp_path / "one.hni")
    assert main(["fmt", "--write", str(tmp_path / "two.hni")]) == 0
    assert (tmp_path / "two.hni").is_symlink() and (tmp_path / "one.hni").is_symlink()
    assert target.read_text() == CANONICAL


def test_a_failed_write_leaves_the_original_intact(tmp_path, monkeypatch, capsys):
    script = tmp_path / "edit.hni"
    script.write_text(MESSY)

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    assert main(["fmt", "--write", str(script)]) == 1
    assert capsys.readouterr().err == f"hni fmt: error: {script}: cannot be written: No space left on device\n"
    assert script.read_text() == MESSY
    assert [p.name for p in tmp_path.iterdir()] == ["edit.hni"]  # the temp file is gone too


def test_plan_output_that_cannot_be_written_is_one_line(tmp_path, capsys):
    script = tmp_path / "edit.hni"
    script.write_text(CANONICAL)
    (tmp_path / "plan.json").mkdir()  # a folder where the plan file would go
    status = main(["plan", "--library", str(LIBRARY), str(script), "-o", str(tmp_path / "plan.json")])
    out, err = capsys.readouterr()
    # refused before anything is written (hni_engine.store.plan_outputs): an input-file problem, one line
    assert status == 3 and out == ""
    assert err.startswith(f"hni plan: error: {tmp_path / 'plan.json'}: is a folder")
    assert err.count("\n") == 1
    assert (tmp_path / "plan.json").is_dir() and not any((tmp_path / "plan.json").iterdir())


def test_write_is_a_rename_never_an_in_place_rewrite(tmp_path, monkeypatch):
    script = tmp_path / "edit.hni"
    script.write_text(MESSY)
    before = script.stat().st_ino
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    assert main(["fmt", "--write", str(script)]) == 0
    assert [dst for _, dst in renames] == ["edit.hni"] and renames[0][0] != "edit.hni"
    assert script.stat().st_ino != before
    assert script.read_text() == CANONICAL

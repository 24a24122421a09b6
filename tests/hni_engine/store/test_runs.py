"""runs/HEAD has one owner: it checks what HEAD names, resolves run prefixes and moves HEAD last."""

from __future__ import annotations

import pytest

from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.runs import current_library_path, next_run_id, read_head, record_run, reset_head, resolve_run


def make_run(layout: Layout, run: str, files=("library.json", "metrics.json")) -> None:
    folder = layout.runs_dir / run
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("{}")


def test_no_head_means_the_extraction(tmp_path):
    layout = Layout(tmp_path)
    assert read_head(layout) is None
    assert current_library_path(layout) == layout.library_path


def test_head_names_a_complete_run(tmp_path):
    layout = Layout(tmp_path)
    make_run(layout, "0001-abcdef12")
    layout.head_path.write_text("0001-abcdef12\n")
    assert read_head(layout) == "0001-abcdef12"
    assert current_library_path(layout) == layout.runs_dir / "0001-abcdef12" / "library.json"


@pytest.mark.parametrize("content", ["../../outside", "/etc", ".hidden", "a/b", "0001 x"])
def test_head_cannot_point_outside_the_runs_folder(tmp_path, content):
    layout = Layout(tmp_path)
    layout.runs_dir.mkdir()
    layout.head_path.write_text(content + "\n")
    with pytest.raises(WorkspaceError, match="not a run id"):
        read_head(layout)


def test_head_naming_a_missing_or_incomplete_run_is_an_error(tmp_path):
    layout = Layout(tmp_path)
    layout.runs_dir.mkdir()
    layout.head_path.write_text("0001-gone\n")
    with pytest.raises(WorkspaceError, match="is missing"):
        read_head(layout)
    make_run(layout, "0001-gone", files=("metrics.json",))
    with pytest.raises(WorkspaceError, match=r"incomplete \(library.json missing\)"):
        read_head(layout)


def test_resolve_run_by_prefix_and_with_a_hint(tmp_path):
    layout = Layout(tmp_path)
    make_run(layout, "0001-aaaaaaaa")
    make_run(layout, "0002-bbbbbbbb")
    assert resolve_run(layout, None) is None
    assert resolve_run(layout, "0002") == "0002-bbbbbbbb"
    with pytest.raises(Exception, match="matches several runs"):
        resolve_run(layout, "000")
    with pytest.raises(Exception, match="did you mean '0001-aaaaaaaa'"):
        resolve_run(layout, "0001-aaaaaaab")


def test_record_run_writes_the_folder_whole_then_moves_head(tmp_path):
    layout = Layout(tmp_path)
    run = next_run_id(layout, "0123456789abcdef")
    assert run == "0001-01234567"

    def write(folder):
        (folder / "library.json").write_text("{}")

    assert record_run(layout, run, write) == layout.runs_dir / run
    assert read_head(layout) == run
    assert next_run_id(layout, "ff" * 8) == "0002-ffffffff"
    reset_head(layout)
    assert read_head(layout) is None and (layout.runs_dir / run).is_dir()


def test_a_failing_write_leaves_no_folder_and_head_unmoved(tmp_path):
    layout = Layout(tmp_path)
    make_run(layout, "0001-aaaaaaaa")
    layout.head_path.write_text("0001-aaaaaaaa\n")

    def write(folder):
        (folder / "model.pt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        record_run(layout, "0002-bbbbbbbb", write)
    assert sorted(p.name for p in layout.runs_dir.iterdir()) == ["0001-aaaaaaaa", "HEAD"]
    assert read_head(layout) == "0001-aaaaaaaa"


@pytest.mark.parametrize("content", ["", "  \n\n"])
def test_an_empty_head_is_damage_not_the_extraction(tmp_path, content):
    """hni never writes an empty HEAD (the extraction is no HEAD): a truncated one must not read as base,
    or `hni runs --prune` would take every run for one nobody points to."""
    layout = Layout(tmp_path)
    layout.runs_dir.mkdir()
    layout.head_path.write_text(content)
    with pytest.raises(WorkspaceError, match="empty; it should name a run"):
        read_head(layout)

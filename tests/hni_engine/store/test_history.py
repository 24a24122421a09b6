"""The run history: parents and HEAD's chain, going back (checkout), pruning safely, and which scripts are new."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from hni_dsl.library import AppliedScript
from hni_dsl.plan import text_sha256
from hni_engine.store import history
from hni_engine.store.doctor import diagnose, leftovers, repair
from hni_engine.store.history import (
    changed_scripts_error,
    checkout_target,
    list_runs,
    prunable,
    read_history,
    remove_run,
    select_scripts,
)
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.runs import FAILED_FILE, move_head, next_run_id, read_head


def make_run(layout: Layout, run: str, parent: str | None, scripts=("a.hni",), before=0.5, after=0.75) -> None:
    """A complete run folder as `hni apply` writes it (the files HEAD needs; records with what history reads)."""
    folder = layout.runs_dir / run
    folder.mkdir(parents=True)
    for name in ("library.json", "model.pt", "classes.json"):
        (folder / name).write_text("{}")
    metrics = {"before": {"accuracy": before}, "after": {"accuracy": after}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    entries = [{"path": f"ws/edits/{s}", "sha256": "0" * 64, "status": "planned"} for s in scripts]
    entries.append({"path": "ws/edits/old.hni", "sha256": "1" * 64, "status": "already_applied"})
    provenance = {"parent_run": parent, "scripts": entries, "created": "2025-01-02T03:04:05Z"}
    (folder / "provenance.json").write_text(json.dumps(provenance))


def make_failed(layout: Layout, run: str, parent: str | None) -> None:
    folder = layout.runs_dir / run
    folder.mkdir(parents=True)
    record = {"status": "failed", "stage": "distil", "reason": "loss is nan", "parent_run": parent, "scripts": []}
    (folder / FAILED_FILE).write_text(json.dumps(record))


@pytest.fixture
def tree(tmp_path) -> Layout:
    """base <- 0001 <- 0002 <- 0004 (HEAD); 0001 <- 0003 (a side branch); 0005 failed on 0004; 0006 incomplete."""
    layout = Layout(tmp_path)
    make_run(layout, "0001-aaaaaaaa", None, scripts=("001_a.hni",))
    make_run(layout, "0002-bbbbbbbb", "0001-aaaaaaaa", scripts=("002_b.hni",))
    make_run(layout, "0003-cccccccc", "0001-aaaaaaaa", scripts=("002_other.hni",))
    make_run(layout, "0004-dddddddd", "0002-bbbbbbbb", scripts=("003_c.hni",), before=0.75, after=0.8)
    make_failed(layout, "0005-eeeeeeee", "0004-dddddddd")
    (layout.runs_dir / "0006-ffffffff").mkdir()
    move_head(layout, "0004-dddddddd")
    return layout


def test_runs_are_read_with_parent_scripts_accuracy_and_date(tree):
    runs = {r.id: r for r in list_runs(tree)}
    assert list(runs) == [f"000{i}-{c * 8}" for i, c in zip(range(1, 7), "abcdef")]
    first, fourth = runs["0001-aaaaaaaa"], runs["0004-dddddddd"]
    assert (first.status, first.parent, first.parent_text, first.scripts) == ("complete", None, "base", ("001_a.hni",))
    assert (fourth.parent, fourth.before, fourth.after, fourth.created) == (
        "0002-bbbbbbbb",
        0.75,
        0.8,
        "2025-01-02T03:04:05Z",
    )
    failed = runs["0005-eeeeeeee"]
    assert (failed.status, failed.failure, failed.parent) == (
        "failed",
        "failed at distil: loss is nan",
        "0004-dddddddd",
    )
    assert runs["0006-ffffffff"].status == "incomplete"
    assert fourth.as_json()["parent"] == "0002-bbbbbbbb" and first.as_json()["parent"] == "base"


def test_heads_chain_goes_to_base_and_prune_removes_the_rest_but_incomplete_folders(tree):
    h = read_history(tree)
    assert h.head == "0004-dddddddd" and h.chain == ("0004-dddddddd", "0002-bbbbbbbb", "0001-aaaaaaaa")
    assert [r.id for r in prunable(h)] == ["0003-cccccccc", "0005-eeeeeeee"]  # a side branch, a failed run


def test_with_head_at_base_every_run_is_prunable(tree):
    move_head(tree, None)
    assert read_head(tree) is None
    h = read_history(tree)
    assert h.chain == () and len(prunable(h)) == 5  # not the incomplete folder: that is for a person


def test_prune_refuses_when_the_chain_cannot_be_followed(tree):
    (tree.runs_dir / "0002-bbbbbbbb" / "provenance.json").write_text("{half")
    with pytest.raises(WorkspaceError, match=r"cannot tell which runs HEAD builds on: run 0002-bbbbbbbb's parent"):
        prunable(read_history(tree))
    shutil.rmtree(tree.runs_dir / "0002-bbbbbbbb")
    with pytest.raises(WorkspaceError, match="was applied to run 0002-bbbbbbbb, which is not in"):
        prunable(read_history(tree))


def test_remove_run_leaves_nothing(tree):
    remove_run(tree, "0003-cccccccc")
    assert sorted(p.name for p in tree.runs_dir.iterdir() if p.name.startswith("0003")) == []
    assert [p for p in tree.runs_dir.iterdir() if history.PRUNED.fullmatch(p.name)] == []
    assert leftovers(tree) == []


def test_an_interrupted_removal_is_never_read_as_a_run_and_doctor_finishes_it(tree, monkeypatch):
    def half_then_killed(path, *args, **kwargs):
        (path / "model.pt").unlink()  # half deleted...
        raise KeyboardInterrupt  # ...then Ctrl-C (a kill -9 leaves the same folder)

    monkeypatch.setattr(history.shutil, "rmtree", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        remove_run(tree, "0003-cccccccc")
    monkeypatch.undo()
    doomed = [p for p in tree.runs_dir.iterdir() if history.PRUNED.fullmatch(p.name)]
    assert len(doomed) == 1 and doomed[0].name.startswith(".0003-cccccccc.pruned-")
    assert "0003-cccccccc" not in [r.id for r in list_runs(tree)]  # never listed, resolved, or checked out
    with pytest.raises(WorkspaceError, match="no run"):
        checkout_target(tree, "0003")
    found = [d for d in diagnose(tree) if d.kind == "pruned"]
    assert len(found) == 1 and "`hni runs --prune` was removing" in found[0].problem
    assert [d.kind for d in diagnose(tree) if d.kind == "incomplete-run"] == ["incomplete-run"]  # 0006 only
    assert repair(tree, leftovers(tree), only_leftovers=True)  # what the next writer does
    assert not doomed[0].exists() and leftovers(tree) == []


def test_checkout_target_takes_base_ids_and_prefixes(tree):
    assert checkout_target(tree, "base") is None
    assert checkout_target(tree, "0002") == "0002-bbbbbbbb"
    assert checkout_target(tree, "0001-aaaaaaaa") == "0001-aaaaaaaa"


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ("0005", r"run 0005-eeeeeeee failed at distil: loss is nan; it has no network"),
        ("0006", r"run 0006-ffffffff is incomplete \(library.json, model.pt, classes.json, metrics.json missing"),
        ("000", r"'000' matches several runs"),
        ("0009-aaaaaaaa", r"no run '0009-aaaaaaaa'.*did you mean"),
        ("../../etc", r"no run '../../etc'"),
        ("bsae", r"did you mean 'base'"),
        ("", r"needs a run id"),  # not a prefix of every id
        ("  ", r"needs a run id"),
    ],
)
def test_checkout_target_refuses_what_head_cannot_name(tree, wanted, message):
    with pytest.raises(WorkspaceError, match=message):
        checkout_target(tree, wanted)


def test_checkout_refuses_a_run_whose_network_is_not_the_one_it_recorded(tree):
    folder = tree.runs_dir / "0002-bbbbbbbb"
    (folder / "model.pt").write_bytes(b"the network")
    recorded = hashlib.sha256(b"the network").hexdigest()
    (folder / "library.json").write_text(json.dumps({"meta": {"model_sha256": recorded}}))
    assert checkout_target(tree, "0002") == "0002-bbbbbbbb"  # intact
    (folder / "model.pt").write_bytes(b"the network, damaged")
    with pytest.raises(WorkspaceError, match=r"run 0002-bbbbbbbb is damaged \(.*model.pt has sha256"):
        checkout_target(tree, "0002")
    (folder / "library.json").write_text("{not json")
    with pytest.raises(WorkspaceError, match=r"is damaged \(.*library.json cannot be read"):
        checkout_target(tree, "0002")


def test_move_head_is_checked_and_atomic(tree):
    move_head(tree, "0001-aaaaaaaa")
    assert tree.head_path.read_text() == "0001-aaaaaaaa\n"
    for bad in ("0005-eeeeeeee", "0006-ffffffff"):
        with pytest.raises(WorkspaceError, match="not a complete run"):
            move_head(tree, bad)
    assert read_head(tree) == "0001-aaaaaaaa"


def test_run_numbers_follow_the_highest_run_after_a_prune(tree):
    remove_run(tree, "0003-cccccccc")
    assert next_run_id(tree, "ab" * 8) == "0007-abababab"  # not 0006: that folder is still there
    for run in ("0005-eeeeeeee", "0006-ffffffff"):
        shutil.rmtree(tree.runs_dir / run)
    assert next_run_id(tree, "ab" * 8) == "0005-abababab"  # 0004 is the highest left


def test_scripts_are_new_applied_or_changed_by_file_name_and_hash():
    applied = [AppliedScript(script="ws/edits/001_a.hni", sha256=text_sha256("a\n"))]
    scripts = [("./edits/001_a.hni", "a\n"), ("./edits/002_b.hni", "b\n")]
    chosen = select_scripts(applied, scripts)
    assert (chosen.new, chosen.applied, chosen.changed) == (("./edits/002_b.hni",), ("./edits/001_a.hni",), ())
    assert chosen.describe() == (
        "new, applied in this order: ./edits/002_b.hni; already applied, skipped: ./edits/001_a.hni"
    )
    edited = select_scripts(applied, [("edits/001_a.hni", "a, reviewed\n")])
    assert edited.new == () and edited.applied == ()
    (change,) = edited.changed
    assert (change.applied_sha256, change.sha256) == (text_sha256("a\n"), text_sha256("a, reviewed\n"))
    message = str(changed_scripts_error(edited.changed, "run 0001-aaaaaaaa"))
    was, now = change.applied_sha256[:12], change.sha256[:12]
    assert f"edits/001_a.hni (sha256 {was} when applied as ws/edits/001_a.hni, {now} now)" in message
    assert "nothing applied" in message and "new script" in message and "hni checkout" in message


def test_a_new_script_that_sorts_before_an_applied_one_is_noted():
    applied = [AppliedScript(script="edits/002_b.hni", sha256=text_sha256("b\n"))]
    chosen = select_scripts(applied, [("edits/001_a.hni", "a\n"), ("edits/002_b.hni", "b\n")])
    assert "note: edits/001_a.hni sorts before a script already applied" in chosen.describe()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1.5, -0.1, "0.9", True])
def test_an_accuracy_that_is_not_one_is_shown_as_unknown(tmp_path, value):
    """`hni runs --json` stays valid JSON whatever a damaged metrics.json holds (no NaN, no Infinity)."""
    layout = Layout(tmp_path)
    layout.runs_dir.mkdir()
    make_run(layout, "0001-aaaaaaaa", None)
    metrics = layout.runs_dir / "0001-aaaaaaaa" / "metrics.json"
    found = json.loads(metrics.read_text())
    found["after"]["accuracy"] = value
    metrics.write_text(json.dumps(found))
    (run,) = read_history(layout).runs
    assert run.after is None and run.before == 0.5
    json.dumps(run.as_json(), allow_nan=False)

"""`hni demo`'s last step on crafted runs: the table of oracle, suggested and no edit reads the numbers the
runs recorded; the suggestions are applied only when they hold a statement; HEAD goes back to the oracle run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hni_dsl.errors import HniError
from hni_engine.cli.demo_compare import (
    NO_EDIT_ROW,
    ORACLE_ROW,
    SUGGESTED_ROW,
    Suggested,
    comparison,
    suggest_and_apply,
)
from hni_engine.store.config import HniConfig, write_config
from hni_engine.store.runs import move_head, read_head
from hni_engine.store.workspace import Workspace

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "library.json"


def _workspace(root: Path) -> Workspace:
    write_config(HniConfig(), root / "hni.toml")
    (root / "concepts").mkdir()
    shutil.copy(EXAMPLE, root / "concepts" / "library.json")
    (root / "edits").mkdir()
    (root / "model").mkdir()
    return Workspace(root)


def _run(ws: Workspace, run: str, after: dict[str, float], edited: list[str]) -> None:
    folder = ws.runs_dir / run
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLE, folder / "library.json")
    metrics = {
        "evaluated_classes": list(after),
        "edited_classes": edited,
        "after": {"per_class": after, "accuracy": sum(after.values()) / len(after)},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))


def _row(lines: list[str], name: str) -> list[str]:
    return next(line for line in lines if line.startswith(name))[len(name) :].split()


def test_the_table_shows_what_each_network_recorded(tmp_path):
    ws = _workspace(tmp_path)
    # The oracle defines K (no output before), edits A; the suggestions edit B; the base never saw K.
    _run(ws, "0001-aaaaaaaa", {"A": 1.0, "B": 0.5, "K": 0.9}, ["A", "K"])
    _run(ws, "0002-bbbbbbbb", {"A": 0.75, "B": 1.0}, ["B"])
    (ws.model_path.with_suffix(".json")).write_text(json.dumps({"per_class": {"A": 0.25, "B": 0.5}}))
    lines = comparison(ws, "0001-aaaaaaaa", Suggested(ws.edits_dir / "0002-suggested.hni", "0002-bbbbbbbb"))
    # edited classes A and K, other class B, all three: K counts 0 for a network with no output for it
    assert _row(lines, ORACLE_ROW)[:6] == ["0.950", "(+82.5)", "0.500", "(+0.0)", "0.800", "(+55.0)"]
    assert _row(lines, SUGGESTED_ROW)[:6] == ["0.375", "(+25.0)", "1.000", "(+50.0)", "0.583", "(+33.3)"]
    assert _row(lines, NO_EDIT_ROW)[:3] == ["0.125", "0.500", "0.250"]
    assert "run 0001-aaaaaaaa (HEAD)" in lines[2] and "run 0002-bbbbbbbb" in lines[3]
    assert "edited classes: those the oracle script edits: A, K" in lines
    assert "the suggestions (0002-suggested.hni) edit: B" in lines
    assert "on the edited classes the suggestions gain 30% of what the oracle script gains" in lines


def test_no_statement_means_no_run_and_the_row_says_so(tmp_path):
    ws = _workspace(tmp_path)
    _run(ws, "0001-aaaaaaaa", {"A": 1.0, "B": 0.5}, ["A"])
    (ws.model_path.with_suffix(".json")).write_text(json.dumps({"per_class": {"A": 0.25, "B": 0.5}}))
    lines = comparison(ws, "0001-aaaaaaaa", Suggested(ws.edits_dir / "0002-suggested.hni", None))
    assert " ".join(_row(lines, SUGGESTED_ROW)) == "- - - no statement proposed in 0002-suggested.hni; nothing applied"
    assert not any("suggestions gain" in line for line in lines)


class FakeCommands:
    """Stands in for the demo's `run`: records each command; checkout moves HEAD, suggest writes ``script``,
    apply writes a run (or fails)."""

    def __init__(self, ws: Workspace, script: str, fail_apply: bool = False):
        self.ws, self.script, self.fail_apply, self.calls = ws, script, fail_apply, []

    def __call__(self, *argv: str) -> None:
        self.calls.append(argv[0] if argv[0] != "checkout" else f"checkout {argv[1]}")
        if argv[0] == "checkout":
            move_head(self.ws, None if argv[1] == "base" else argv[1])
        elif argv[0] == "suggest":
            Path(argv[2]).write_text(self.script)
        elif argv[0] == "apply":
            assert read_head(self.ws) is None, "the suggestions are applied to the extraction"
            if self.fail_apply:
                raise HniError("the demo stopped")
            _run(self.ws, "0002-bbbbbbbb", {"A": 1.0}, ["A"])
            (self.ws.runs_dir / "0002-bbbbbbbb" / "model.pt").write_bytes(b"")
            (self.ws.runs_dir / "0002-bbbbbbbb" / "classes.json").write_text('["A"]')
            move_head(self.ws, "0002-bbbbbbbb")


def _with_oracle_run(tmp_path: Path) -> Workspace:
    ws = _workspace(tmp_path)
    _run(ws, "0001-aaaaaaaa", {"A": 1.0}, ["A"])
    (ws.runs_dir / "0001-aaaaaaaa" / "model.pt").write_bytes(b"")
    (ws.runs_dir / "0001-aaaaaaaa" / "classes.json").write_text('["A"]')
    (ws.edits_dir / "001_posebias-oracle.hni").write_text("class tank: drop edges *\n")
    move_head(ws, "0001-aaaaaaaa")
    return ws


def test_a_statement_is_applied_to_the_extraction_and_head_returns_to_the_oracle(tmp_path):
    ws = _with_oracle_run(tmp_path)
    commands = FakeCommands(ws, "# weak: ...\nclass fire_engine: drop edges *\n")
    done = suggest_and_apply(ws, commands, "cpu")
    assert commands.calls == ["checkout base", "suggest", "apply", "checkout 0001-aaaaaaaa"]
    assert done == Suggested(ws.edits_dir / "0002-suggested.hni", "0002-bbbbbbbb")
    assert read_head(ws) == "0001-aaaaaaaa"


def test_only_comments_are_not_applied(tmp_path):
    ws = _with_oracle_run(tmp_path)
    commands = FakeCommands(ws, "# weak (high): ...\n# class fire_engine: drop edges *\n")
    done = suggest_and_apply(ws, commands, "cpu")
    assert commands.calls == ["checkout base", "suggest", "checkout 0001-aaaaaaaa"]
    assert done.run is None and read_head(ws) == "0001-aaaaaaaa"


def test_a_failed_apply_still_leaves_the_oracle_run_current(tmp_path):
    ws = _with_oracle_run(tmp_path)
    commands = FakeCommands(ws, "class fire_engine: drop edges *\n", fail_apply=True)
    with pytest.raises(HniError):
        suggest_and_apply(ws, commands, "cpu")
    assert commands.calls[-1] == "checkout 0001-aaaaaaaa" and read_head(ws) == "0001-aaaaaaaa"

"""The history of a workspace's runs: which run builds on which, going back to one (`hni checkout`),
removing the runs HEAD does not build on (`hni runs --prune`), and which scripts a state already holds.

Every run records the run it was applied to (`parent_run` in its provenance.json, or in failed.json for a
failed run; null for the extraction, called `base`), so the runs form a tree rooted at the extraction.
HEAD names one run (hni_engine.store.runs); its *chain* is that run and every run it builds on, down to
base.

Pruning keeps the chain and removes every other run: side branches left when `hni checkout` went back
and `hni apply` built anew, runs after the one HEAD was moved back to, failed runs. "Nothing points to
it" means exactly that: neither HEAD nor an ancestor of HEAD (with HEAD at base, that is every run).
Folders that are neither a complete run nor a failed one are not hni's to judge (`hni doctor` reports
them) and are kept. Pruning refuses when the chain cannot be followed to base (a parent unreadable or
gone), since it could not tell which runs HEAD builds on.

A run is removed by renaming it to `runs/.ID.pruned-XXXXXXXX` (one atomic rename: from then on no
reader sees it, and no id or prefix resolves to it) and only then deleting that folder. A removal
interrupted in between leaves a hidden folder that `hni doctor` reports and the next writer deletes.

A script is known by its file name: a library's `applied` list records each script applied to it with
its sha256, so a script in `edits/` is *applied* when its text's hash is on the list, *changed* when its
name is on the list with another hash, and *new* otherwise. Torch-free.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Literal

from hni_dsl.errors import HniError
from hni_dsl.escape import clip, escape
from hni_dsl.library import AppliedScript
from hni_dsl.plan import text_sha256
from hni_dsl.suggest import did_you_mean
from hni_engine.store.datahash import file_sha256
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.runs import FAILED_FILE, HEAD_NEEDS, check_run_name, is_run_name, read_head

__all__ = [
    "BASE",
    "PRUNED",
    "ChangedScript",
    "ChangedScriptError",
    "History",
    "RunRecord",
    "ScriptSelection",
    "changed_scripts_error",
    "changed_scripts_warning",
    "checkout_target",
    "list_runs",
    "prunable",
    "read_history",
    "read_run",
    "remove_run",
    "select_scripts",
]

# A run `hni runs --prune` renamed out of the way before deleting it (hni_engine.store.doctor removes one).
PRUNED = re.compile(r"\.(?P<name>[A-Za-z0-9][A-Za-z0-9_-]{0,127})\.pruned-[0-9a-f]{8}")
BASE = "base"  # what `hni runs` and `hni checkout` call the extraction: the state before any run

Status = Literal["complete", "failed", "incomplete"]


@dataclass(frozen=True)
class RunRecord:
    """One run folder as its records describe it; what could not be read is None, and ``problem`` says why."""

    id: str
    status: Status
    parent: str | None  # the run it was applied to; None: base (the extraction), or unknown (parent_known)
    parent_known: bool
    scripts: tuple[str, ...]  # file names of the scripts whose changes it applied, in order
    before: float | None  # mean test accuracy of the network it started from (metrics.json before.accuracy)
    after: float | None  # ... and of its own network (after.accuracy)
    created: str | None  # provenance.json (or failed.json) `created`, UTC
    failure: str | None = None  # a failed run: "failed at STAGE: REASON"
    problem: str | None = None

    @property
    def parent_text(self) -> str:
        return (self.parent or BASE) if self.parent_known else "?"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "parent": (self.parent or BASE) if self.parent_known else None,
            "scripts": list(self.scripts),
            "before_accuracy": self.before,
            "after_accuracy": self.after,
            "created": self.created,
            "failure": self.failure,
            "problem": self.problem,
        }


def _read_record(path: Path) -> tuple[dict[str, Any], str | None]:
    """A run's JSON record, or {} and why it could not be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{path.name} missing"
    except (OSError, ValueError) as exc:
        return {}, f"{path.name} unreadable ({clip(str(exc), 80)})"
    return (data, None) if isinstance(data, dict) else ({}, f"{path.name} is not a JSON object")


def _accuracy(metrics: dict[str, Any], key: str) -> float | None:
    part = metrics.get(key)
    value = part.get("accuracy") if isinstance(part, dict) else None
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return number if number is not None and math.isfinite(number) and 0 <= number <= 1 else None


def _text(value: Any) -> str | None:
    return escape(clip(value, 40)) if isinstance(value, str) else None


def _parent(record: dict[str, Any]) -> tuple[str | None, bool]:
    if "parent_run" not in record:
        return None, False
    parent = record["parent_run"]
    if parent is None:
        return None, True
    return (parent, True) if isinstance(parent, str) and is_run_name(parent) else (None, False)


def _scripts(record: dict[str, Any]) -> tuple[str, ...]:
    entries = record.get("scripts")
    if not isinstance(entries, list):
        return ()
    return tuple(
        PurePath(e["path"]).name
        for e in entries
        if isinstance(e, dict) and e.get("status") == "planned" and isinstance(e.get("path"), str)
    )


def read_run(layout: Layout, run: str) -> RunRecord:
    """What the folder `runs/<run>/` records: complete (metrics.json), failed (failed.json) or neither."""
    folder = layout.runs_dir / run
    if (folder / FAILED_FILE).is_file():
        record, problem = _read_record(folder / FAILED_FILE)
        parent, known = _parent(record)
        stage, reason = record.get("stage"), record.get("reason")
        failure = f"failed at {stage}: {reason}" if stage and reason else "failed"
        return RunRecord(
            run,
            "failed",
            parent,
            known,
            _scripts(record),
            before=None,
            after=None,
            created=_text(record.get("created")),
            failure=escape(clip(failure, 200)),
            problem=problem,
        )
    if not (folder / "metrics.json").is_file():
        why = "neither metrics.json nor a failure record (`hni doctor` reports it)"
        return RunRecord(run, "incomplete", None, False, (), None, None, None, problem=why)
    metrics, bad_metrics = _read_record(folder / "metrics.json")
    provenance, bad_provenance = _read_record(folder / "provenance.json")
    parent, known = _parent(provenance)
    if not known and bad_provenance is None:
        bad_provenance = "provenance.json names no parent run"
    return RunRecord(
        run,
        "complete",
        parent,
        known,
        _scripts(provenance),
        before=_accuracy(metrics, "before"),
        after=_accuracy(metrics, "after"),
        created=_text(provenance.get("created")),
        problem="; ".join(p for p in (bad_metrics, bad_provenance) if p) or None,
    )


def list_runs(layout: Layout) -> list[RunRecord]:
    """Every run folder of the workspace (complete, failed or incomplete), in id order."""
    if not layout.runs_dir.is_dir():
        return []
    names = sorted(p.name for p in layout.runs_dir.iterdir() if p.is_dir() and is_run_name(p.name))
    return [read_run(layout, name) for name in names]


@dataclass(frozen=True)
class History:
    """The runs, HEAD, and HEAD's chain (HEAD, the run it was applied to, ..., the first run on base)."""

    runs: tuple[RunRecord, ...]
    head: str | None  # None: base, or a HEAD that cannot be read (head_problem)
    head_problem: str | None
    chain: tuple[str, ...]
    chain_problem: str | None  # why the chain stops before base

    def get(self, run: str) -> RunRecord | None:
        return next((r for r in self.runs if r.id == run), None)

    @property
    def off_chain(self) -> tuple[RunRecord, ...]:
        """The complete and failed runs HEAD does not build on (what `hni runs --prune` removes)."""
        return tuple(r for r in self.runs if r.id not in self.chain and r.status != "incomplete")


def read_history(layout: Layout) -> History:
    runs = tuple(list_runs(layout))
    by_id = {r.id: r for r in runs}
    try:
        head, head_problem = read_head(layout, needs=HEAD_NEEDS), None
    except HniError as exc:
        head, head_problem = None, str(exc)
    chain: list[str] = []
    problem = None
    run = head
    while run is not None:
        record = by_id.get(run)
        if run in chain:
            problem = f"the runs' parents loop back to run {run}"
            break
        if record is None:
            problem = f"run {chain[-1]} was applied to run {run}, which is not in {layout.runs_dir}"
            break
        chain.append(run)
        if not record.parent_known:
            problem = f"run {run}'s parent cannot be read ({record.problem or 'no record'})"
            break
        run = record.parent
    return History(runs, head, head_problem, tuple(chain), problem)


def prunable(history: History) -> tuple[RunRecord, ...]:
    """The runs `hni runs --prune` removes; refused when HEAD or its chain cannot be read."""
    if history.head_problem is not None:
        raise WorkspaceError(f"{history.head_problem}; nothing removed (`hni doctor` says how to fix HEAD)")
    if history.chain_problem is not None:
        raise WorkspaceError(
            f"cannot tell which runs HEAD builds on: {history.chain_problem}; nothing removed "
            "(`hni checkout` another run, or remove runs by hand)"
        )
    return history.off_chain


def remove_run(layout: Layout, run: str) -> None:
    """Rename `runs/<run>/` out of sight (`.RUN.pruned-XXXXXXXX`), then delete it (the caller holds the lock)."""
    check_run_name(layout, run)
    folder = layout.runs_dir / run
    doomed = folder.with_name(f".{run}.pruned-{uuid.uuid4().hex[:8]}")
    folder.rename(doomed)
    if doomed.is_symlink():  # a link put there by hand: remove the link, never what it points to
        doomed.unlink()
    else:
        shutil.rmtree(doomed)


def checkout_target(layout: Layout, wanted: str) -> str | None:
    """The run `hni checkout WANTED` moves HEAD to (an id or a unique prefix), or None for `base`.

    Refuses an unknown or ambiguous run, a failed run (it has no network) and an incomplete folder."""
    if wanted == BASE:
        return None
    if not wanted.strip():
        raise WorkspaceError("`hni checkout` needs a run id (or a unique prefix of one), or `base`")
    runs = list_runs(layout)
    ids = [r.id for r in runs]
    complete = [r.id for r in runs if r.status == "complete"]
    matches = [wanted] if wanted in ids else [i for i in ids if i.startswith(wanted)]
    if len(matches) != 1:
        listed = ", ".join(complete) if complete else "none (`hni apply` makes them)"
        if matches:
            raise WorkspaceError(f"{wanted!r} matches several runs ({', '.join(matches)}); give more of the id")
        hint = did_you_mean(wanted, ids + [BASE], quote=repr)
        raise WorkspaceError(f"no run {escape(wanted)!r} in {layout.runs_dir}{hint}; runs: {listed}; or `base`")
    record = next(r for r in runs if r.id == matches[0])
    folder = layout.runs_dir / record.id
    if record.status == "failed":
        raise WorkspaceError(
            f"run {record.id} {record.failure}; it has no network to build on, so HEAD cannot name it "
            f"(see {folder / FAILED_FILE})"
        )
    missing = [name for name in HEAD_NEEDS if not (folder / name).is_file()]
    if missing:
        raise WorkspaceError(
            f"run {record.id} is incomplete ({', '.join(missing)} missing in {folder}), so HEAD cannot name it "
            "(`hni doctor` reports it)"
        )
    damage = network_damage(folder)
    if damage is not None:
        raise WorkspaceError(f"run {record.id} is damaged ({damage}), so HEAD cannot name it")
    return record.id


def network_damage(folder: Path) -> str | None:
    """Why the run's network is not the one it recorded (its library's ``model_sha256``), or None."""
    library = folder / "library.json"
    try:
        recorded = json.loads(library.read_text(encoding="utf-8")).get("meta", {}).get("model_sha256")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        return f"{library} cannot be read: {type(exc).__name__}"
    if not isinstance(recorded, str):
        return None  # nothing recorded to compare with
    try:
        found = file_sha256(folder / "model.pt")
    except OSError as exc:
        return f"{folder / 'model.pt'} cannot be read: {exc.strerror or type(exc).__name__}"
    if found != recorded:
        return f"{folder / 'model.pt'} has sha256 {found[:12]}..., its library recorded {recorded[:12]}..."
    return None


# -- which scripts a state holds ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangedScript:
    """A script whose file name a library records as applied, with other text than it has now."""

    path: str  # as given now
    applied_as: str  # the path the library recorded
    applied_sha256: str
    sha256: str

    def describe(self) -> str:
        return (
            f"{escape(self.path)} (sha256 {self.applied_sha256[:12]} when applied as {escape(self.applied_as)}, "
            f"{self.sha256[:12]} now)"
        )


@dataclass(frozen=True)
class ScriptSelection:
    """Scripts (paths as given, in the order given) sorted by what a library's `applied` list says of them."""

    new: tuple[str, ...]
    applied: tuple[str, ...]
    changed: tuple[ChangedScript, ...]

    def describe(self) -> str:
        """One line: which scripts will be applied, in order, and which are applied already."""
        parts = []
        if self.new:
            parts.append(f"new, applied in this order: {', '.join(map(escape, self.new))}")
        if self.applied:
            parts.append(f"already applied, skipped: {', '.join(map(escape, self.applied))}")
        last = max((PurePath(a).name for a in self.applied), default="")
        late = [p for p in self.new if PurePath(p).name < last]
        if late:
            parts.append(
                f"note: {', '.join(map(escape, late))} sort{'s' if len(late) == 1 else ''} before a script "
                "already applied, but apply on top of the current state all the same"
            )
        return "; ".join(parts)


class ChangedScriptError(HniError):
    """Scripts changed after they were applied: applying them again would apply both versions."""


def select_scripts(applied: Sequence[AppliedScript], scripts: Sequence[tuple[str, str]]) -> ScriptSelection:
    """Sort ``scripts`` ([(path, text)]) into new, applied (same text) and changed (same file name,
    other text) against a library's ``applied`` list."""
    hashes = {entry.sha256 for entry in applied}
    by_name = {PurePath(entry.script).name: entry for entry in applied}  # the latest entry of a name wins
    new: list[str] = []
    done: list[str] = []
    changed: list[ChangedScript] = []
    for path, text in scripts:
        sha = text_sha256(text)
        known = by_name.get(PurePath(path).name)
        if sha in hashes:
            done.append(path)
        elif known is not None:
            changed.append(ChangedScript(path, known.script, known.sha256, sha))
        else:
            new.append(path)
    return ScriptSelection(tuple(new), tuple(done), tuple(changed))


_ADVICE = (
    "Keep applied scripts as they were and write the change as a new script in edits/ (named to sort after "
    "them), or go back to a state before the script (`hni runs` lists them; `hni checkout RUN|base`) and apply again"
)


def _changed(changed: Sequence[ChangedScript]) -> str:
    several = len(changed) > 1
    return (
        f"{'; '.join(c.describe() for c in changed)}: {'these scripts' if several else 'the script'} changed "
        f"since {'they were' if several else 'it was'} applied"
    )


def changed_scripts_error(changed: Sequence[ChangedScript], state: str) -> ChangedScriptError:
    """The refusal `hni apply` gives for scripts edited after they were applied to ``state``."""
    return ChangedScriptError(
        f"{_changed(changed)}, and {state} already holds the old text, so applying again would apply both "
        f"versions; nothing applied. {_ADVICE}"
    )


def changed_scripts_warning(changed: Sequence[ChangedScript]) -> str:
    """What `hni plan` says of the same scripts (it plans them as if new)."""
    return f"warning: {_changed(changed)}; `hni apply` refuses {'them' if len(changed) > 1 else 'it'}. {_ADVICE}"

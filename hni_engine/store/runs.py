"""Runs and HEAD: the one module that reads, checks and moves `runs/HEAD`.

`hni apply` writes each run into `runs/<id>/` (a staged folder, renamed into place whole) and only then
moves HEAD to it, so a failed or interrupted apply leaves the current state as it was. The current state
is the run HEAD names, or the extraction (`concepts/`) when there is no HEAD. Every command that needs
the current library, network or run goes through here; nothing else opens HEAD.

Torch-free: the language commands (`hni check`, `hni plan`) read the current library through it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text, staged_folder
from hni_engine.store.layout import Layout, WorkspaceError

if TYPE_CHECKING:
    from hni_engine.store.workspace import Workspace

__all__ = [
    "FAILED_FILE",
    "HEAD_NEEDS",
    "PENDING_HEAD",
    "RUN_FILES",
    "CurrentState",
    "check_run_name",
    "current_library_path",
    "current_state",
    "is_run_name",
    "move_head",
    "next_run_id",
    "read_head",
    "record_run",
    "reset_head",
    "resolve_run",
    "run_ids",
]

# What `hni apply` writes into every run folder (readers name the files they need among these).
# What a failed run holds instead of a network: the stage and the reason (never HEAD).
FAILED_FILE = "failed.json"
# The HEAD journal: names the run about to be renamed into place, until HEAD has moved to it. A kill in
# between leaves it behind, and the next writer (or `hni doctor --fix`) finishes the move.
PENDING_HEAD = ".HEAD.pending"
RUN_FILES = ("library.json", "model.pt", "classes.json", "grn.pt", "metrics.json", "provenance.json", "plan.txt")
# What a run HEAD names must hold: what `hni apply` builds on (library, network, classes) and what readers show.
HEAD_NEEDS = ("library.json", "model.pt", "classes.json", "metrics.json")
# A run id is a plain folder name inside runs/: no separators, no leading dot, so HEAD cannot point outside.
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def is_run_name(name: str) -> bool:
    """Whether ``name`` can be a run id: a plain folder name (no separators, no leading dot)."""
    return bool(_RUN_NAME.fullmatch(name))


def check_run_name(layout: Layout, run: str) -> None:
    """Refuse a run id that is not a plain folder name inside runs/ (so nothing can point outside)."""
    if not _RUN_NAME.fullmatch(run):
        raise WorkspaceError(f"{layout.head_path}: {run!r} is not a run id (a folder name inside {layout.runs_dir})")


def read_head(layout: Layout, needs: Sequence[str] = ("library.json",)) -> str | None:
    """The run HEAD names, checked to be a run folder of this workspace holding ``needs``; None without HEAD."""
    head = layout.head_path
    if not head.is_file():
        return None
    try:
        run = head.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{head}: unreadable ({exc})") from None
    if not run:  # hni never writes an empty HEAD (the extraction is no HEAD at all): a truncated write
        raise WorkspaceError(f"{head}: empty; it should name a run (`hni doctor` reports it, `--fix` repairs it)")
    check_run_name(layout, run)
    folder = layout.runs_dir / run
    missing = [name for name in needs if not (folder / name).is_file()]
    if not folder.is_dir() or missing:
        what = "is missing" if not folder.is_dir() else f"is incomplete ({', '.join(missing)} missing)"
        raise WorkspaceError(f"{head}: names run {run!r}, but {folder} {what}")
    return run


def current_library_path(layout: Layout) -> Path:
    """The library edits apply to: the HEAD run's, or the extraction's."""
    run = read_head(layout)
    return layout.runs_dir / run / "library.json" if run else layout.library_path


@dataclass(frozen=True)
class CurrentState:
    """The library and network edits apply to: the HEAD run's, or the extraction's."""

    library_path: Path
    model_path: Path
    classes: list[str]
    run: str | None  # run id; None for the extraction itself


def current_state(ws: Workspace) -> CurrentState:
    run = read_head(ws, needs=("library.json", "model.pt", "classes.json"))
    if run:
        folder = ws.runs_dir / run
        try:
            classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"{folder / 'classes.json'}: unreadable ({exc})") from None
        return CurrentState(folder / "library.json", folder / "model.pt", list(classes), run)
    if not ws.library_path.is_file():
        raise WorkspaceError(f"{ws.library_path}: no concept library yet (run `hni extract`)")
    return CurrentState(ws.library_path, ws.model_path, ws.data_classes(), None)


def run_ids(layout: Layout) -> list[str]:
    """The complete runs of the workspace (folders with a metrics.json), in id order."""
    if not layout.runs_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in layout.runs_dir.iterdir()
        if p.is_dir() and _RUN_NAME.fullmatch(p.name) and (p / "metrics.json").is_file()
    )


def resolve_run(layout: Layout, wanted: str | None) -> str | None:
    """--run ID (or a unique prefix such as 0002), else HEAD's run, else None (the extraction)."""
    from hni_dsl.suggest import did_you_mean

    if wanted is None:
        return read_head(layout, needs=("metrics.json",))
    existing = run_ids(layout)
    if wanted in existing:
        return wanted
    matches = [r for r in existing if r.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    failed = _failed_run(layout, wanted)
    if failed is not None:
        raise HniError(f"--run {wanted!r}: {failed}")
    listed = ", ".join(existing) if existing else f"none ({layout.runs_dir} has no runs; `hni apply` makes them)"
    what = "matches several runs" if matches else "no such run"
    hint = did_you_mean(wanted, existing, quote=repr) if not matches else ""
    raise HniError(f"--run {wanted!r}: {what}{hint}; runs: {listed}")


def _failed_run(layout: Layout, wanted: str) -> str | None:
    """Why the run ``wanted`` (an id or a unique prefix) has no network, if it is a failed run."""
    if not layout.runs_dir.is_dir() or not _RUN_NAME.fullmatch(wanted):
        return None
    found = [p for p in layout.runs_dir.glob(f"{wanted}*") if (p / FAILED_FILE).is_file()]
    if len(found) != 1:
        return None
    try:
        record = json.loads((found[0] / FAILED_FILE).read_text(encoding="utf-8"))
        why = f"failed at {record['stage']}: {record['reason']}"
    except (OSError, ValueError, KeyError, TypeError):
        why = "failed"
    return f"run {found[0].name} {why}; it has no network (see {found[0] / FAILED_FILE})"


def next_run_id(layout: Layout, digest: str) -> str:
    """`NNNN-<first 8 hex of the inputs' digest>`, numbered after the highest run there (not after their
    count: once `hni runs --prune` removed some, a count would give a number a kept run has)."""
    runs = layout.runs_dir
    existing = [p.name for p in runs.glob("[0-9][0-9][0-9][0-9]-*") if p.is_dir()] if runs.is_dir() else []
    return f"{max((int(name[:4]) for name in existing), default=0) + 1:04d}-{digest[:8]}"


def record_run(layout: Layout, run_id: str, write: Callable[[Path], None]) -> Path:
    """Write a run with ``write(folder)`` into a staged folder, rename it to `runs/<id>`, then move HEAD.

    HEAD moves last: if anything fails before, the workspace's current state is as it was, and a run
    folder whose HEAD could not be written is removed again.
    """
    check_run_name(layout, run_id)
    target = layout.runs_dir / run_id
    pending = layout.runs_dir / PENDING_HEAD
    with staged_folder(target, before_swap=lambda: atomic_write_text(pending, run_id + "\n")) as built:
        write(built)
    try:
        atomic_write_text(layout.head_path, run_id + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        pending.unlink(missing_ok=True)
        raise
    pending.unlink(missing_ok=True)
    return target


def reset_head(layout: Layout) -> None:
    """Make the extraction the current state again (runs are kept; HEAD just stops naming one)."""
    layout.head_path.unlink(missing_ok=True)


def move_head(layout: Layout, run: str | None) -> None:
    """Point HEAD at ``run``, a complete run already in place (`hni checkout`), or at the extraction (None).

    One atomic write (or one unlink): a reader sees the old HEAD or the new one. The caller holds the
    writer lock and has checked the run (hni_engine.store.history.checkout_target); this checks it again.
    """
    if run is None:
        reset_head(layout)
        return
    check_run_name(layout, run)
    folder = layout.runs_dir / run
    missing = [name for name in HEAD_NEEDS if not (folder / name).is_file()]
    if missing or (folder / FAILED_FILE).exists():
        raise WorkspaceError(
            f"{folder}: not a complete run ({', '.join(missing) or FAILED_FILE + ' present'}); HEAD not moved"
        )
    atomic_write_text(layout.head_path, run + "\n")

"""What an interrupted command can leave behind, and how to put the workspace right (`hni doctor`).

Every write of hni is a temp file or a staged folder renamed into place, and HEAD moves last, through a
journal (`runs/.HEAD.pending`). A command killed at any instant (kill -9 included) therefore leaves at
most:

- a staged folder `.NAME.partial-XXXXXXXX` that never got renamed: removed;
- a folder set aside for replacement, `.NAME.old-XXXXXXXX`: removed when NAME is in place, renamed
  back when the kill came between the two renames (so the workspace is as it was before);
- a temp file `.NAME.XXXXXXXX.tmp` of an atomic write: removed;
- a HEAD journal: a run renamed into place whose HEAD never moved. The run is whole (it was renamed
  only once complete), so HEAD moves to it: the apply is finished rather than lost.

Those four are repaired by any writer when it takes the workspace lock, and by `hni doctor --fix`. A
HEAD that names a missing or incomplete run, and a run folder that is neither complete nor marked
failed, cannot come from an interrupted hni; they are reported, and `--fix` points HEAD back at the
extraction for the first (the runs are kept), and leaves the second for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_engine.store.layout import Layout
from hni_engine.store.runs import FAILED_FILE, PENDING_HEAD, check_run_name, read_head

__all__ = ["Damage", "diagnose", "leftovers", "repair"]

_PARTIAL = re.compile(r"\.(?P<name>.+)\.partial-[0-9a-f]{8}")
_ASIDE = re.compile(r"\.(?P<name>.+)\.old-[0-9a-f]{8}")
_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_LEFTOVER_KINDS = ("partial", "aside", "temp", "pending-head")


@dataclass(frozen=True)
class Damage:
    kind: str  # partial | aside | temp | pending-head | head | incomplete-run
    path: Path
    problem: str
    fix: str | None  # what --fix does; None when it is left for a person

    def where(self, root: Path) -> str:
        return str(self.path.relative_to(root) if self.path.is_relative_to(root) else self.path)

    def line(self, root: Path) -> str:
        return f"{self.where(root)}: {self.problem}" + (
            f"; fix: {self.fix}" if self.fix else "; not repaired automatically"
        )


def _scan_folders(layout: Layout) -> list[Path]:
    folders = [layout.root, layout.runs_dir, layout.concepts_dir, layout.root / "model", layout.edits_dir]
    return [f for f in folders if f.is_dir()]


def leftovers(layout: Layout) -> list[Damage]:
    """What interrupted writes left: staged and set-aside folders, temp files, an unfinished HEAD move."""
    found: list[Damage] = []
    candidates = [p for folder in _scan_folders(layout) for p in sorted(folder.iterdir())]
    if layout.cache_dir.is_dir():
        candidates += sorted(p for p in layout.cache_dir.rglob(".*.tmp") if p.is_file())
    for path in candidates:
        name = path.name
        if path.is_dir() and _PARTIAL.fullmatch(name):
            found.append(Damage("partial", path, "a folder an interrupted command was building", "remove it"))
        elif path.is_dir() and (m := _ASIDE.fullmatch(name)):
            original = path.with_name(m["name"])
            if original.exists():
                found.append(Damage("aside", path, "an old copy an interrupted command replaced", "remove it"))
            else:
                found.append(Damage("aside", path, f"{original.name} was set aside and never replaced", "put it back"))
        elif path.is_file() and _TEMP.fullmatch(name):
            found.append(Damage("temp", path, "a temp file of an interrupted write", "remove it"))
    pending = layout.runs_dir / PENDING_HEAD
    if pending.is_file():
        run = _pending_run(layout)
        if run is not None:
            fix = f"move HEAD to run {run}, which is complete"
        else:
            fix = "forget it: the run never got into place"
        found.append(Damage("pending-head", pending, "an apply was interrupted while moving HEAD", fix))
    return found


def _pending_run(layout: Layout) -> str | None:
    """The run a HEAD journal names, if that run is in place and complete."""
    try:
        run = (layout.runs_dir / PENDING_HEAD).read_text(encoding="utf-8").strip()
        check_run_name(layout, run)
    except (OSError, UnicodeDecodeError, HniError):
        return None
    folder = layout.runs_dir / run
    return run if (folder / "metrics.json").is_file() and (folder / "model.pt").is_file() else None


def diagnose(layout: Layout) -> list[Damage]:
    """Everything wrong with the workspace's files that hni knows how to recognise."""
    found = leftovers(layout)
    if not any(d.kind == "pending-head" for d in found):
        try:
            read_head(layout, needs=("library.json", "model.pt", "classes.json", "metrics.json"))
        except HniError as exc:
            found.append(
                Damage("head", layout.head_path, str(exc).split(": ", 1)[-1], "point HEAD back at the extraction")
            )
    if layout.runs_dir.is_dir():
        for folder in sorted(layout.runs_dir.iterdir()):
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if not (folder / "metrics.json").is_file() and not (folder / FAILED_FILE).is_file():
                found.append(
                    Damage(
                        "incomplete-run", folder, "a run folder with neither metrics.json nor a failure record", None
                    )
                )
    return found


def repair(layout: Layout, damages: list[Damage], *, only_leftovers: bool = False) -> list[str]:
    """Repair ``damages`` (the caller holds the writer lock); returns a line per repair made."""
    done: list[str] = []
    for d in damages:
        if d.fix is None or (only_leftovers and d.kind not in _LEFTOVER_KINDS):
            continue
        if d.kind == "partial":
            shutil.rmtree(d.path, ignore_errors=True)
        elif d.kind == "aside":
            original = d.path.with_name(_ASIDE.fullmatch(d.path.name)["name"])  # type: ignore[index]
            if original.exists():
                shutil.rmtree(d.path, ignore_errors=True)
            else:
                d.path.rename(original)
        elif d.kind == "temp":
            d.path.unlink(missing_ok=True)
        elif d.kind == "pending-head":
            run = _pending_run(layout)
            if run is not None:
                atomic_write_text(layout.head_path, run + "\n")
            d.path.unlink(missing_ok=True)
        elif d.kind == "head":
            layout.head_path.unlink(missing_ok=True)
        done.append(f"{d.where(layout.root)}: {d.problem}; {d.fix}: done")
    return done

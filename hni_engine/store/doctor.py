"""What an interrupted command can leave behind, and how to put the workspace right (`hni doctor`).

Every write of hni is a temp file or a staged folder renamed into place, and HEAD moves last, through a
journal (`runs/.HEAD.pending`). A command killed at any instant (kill -9 included) therefore leaves at
most:

- a staged folder `.NAME.partial-XXXXXXXX` that never got renamed: removed;
- a folder set aside for replacement, `.NAME.old-XXXXXXXX`: removed when NAME is in place, renamed
  back when the kill came between the two renames (so the workspace is as it was before);
- a temp file `.NAME.XXXXXXXX.tmp` of an atomic write: removed;
- a HEAD journal: a run renamed into place whose HEAD never moved. The run is whole (it was renamed
  only once complete), so HEAD moves to it: the apply is finished rather than lost;
- a run `hni runs --prune` renamed out of sight, `runs/.ID.pruned-XXXXXXXX`, and did not finish
  deleting (hni_engine.store.history): removed, so the prune is finished;
- a Ray Train checkpoint, `.hni/ray-train/distill-*` or `grn-*`, that a `--backend ray` command never
  loaded (hni_engine.compute.data_parallel): removed (the run it was for was never written).

Those six are repaired by any writer when it takes the workspace lock, and by `hni doctor --fix`. A
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
from hni_engine.store.history import PRUNED
from hni_engine.store.layout import Layout
from hni_engine.store.lock import lock_path
from hni_engine.store.runs import FAILED_FILE, PENDING_HEAD, check_run_name, read_head

__all__ = ["Damage", "diagnose", "leftovers", "repair"]

_PARTIAL = re.compile(r"\.(?P<name>.+)\.partial-[0-9a-f]{8}")
_ASIDE = re.compile(r"\.(?P<name>.+)\.old-[0-9a-f]{8}")
_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
# Run folders as `next_run_id` names them.
_RUN_FOLDER = re.compile(r"[0-9]{4}-[0-9a-f]{8}")
_LEFTOVER_KINDS = ("partial", "aside", "temp", "pending-head", "pruned", "ray-train")
_RAY_TRAIN_RUN = re.compile(r"(distill|grn)-[0-9]{8}-[0-9]{6}")


@dataclass(frozen=True)
class Damage:
    kind: str  # partial | aside | ambiguous | temp | pending-head | pruned | ray-train | lock | head | incomplete-run
    path: Path
    problem: str
    fix: str | None  # what --fix does; None when it is left for a person

    def where(self, root: Path) -> str:
        return str(self.path.relative_to(root) if self.path.is_relative_to(root) else self.path)

    def line(self, root: Path) -> str:
        return f"{self.where(root)}: {self.problem}" + (
            f"; fix: {self.fix}" if self.fix else "; not repaired automatically"
        )


def _ours(layout: Layout) -> list[tuple[Path, frozenset[str] | re.Pattern[str], frozenset[str]]]:
    """Where hni stages folders and writes temp files, and the names it does that for: (folder, folders it
    replaces there, files it writes there). Nothing else is ever taken for a leftover, so a user's own
    `.notes.20261203.tmp` or `.old-` backup is never touched."""
    return [
        (layout.root, frozenset({"concepts", "data"}), frozenset({"hni.toml", "report.html", "names.txt"})),
        (layout.runs_dir, _RUN_FOLDER, frozenset({"HEAD", PENDING_HEAD})),
        (layout.root / "model", frozenset(), frozenset({"base.pt", "base.json", "source.json"})),
    ]


def _named(name: str, names: frozenset[str] | re.Pattern[str]) -> bool:
    return bool(names.fullmatch(name)) if isinstance(names, re.Pattern) else name in names


def leftovers(layout: Layout) -> list[Damage]:
    """What interrupted writes left: staged and set-aside folders, temp files, an unfinished HEAD move."""
    found: list[Damage] = []
    for folder, folders, files in _ours(layout):
        if not folder.is_dir():
            continue
        entries = sorted(folder.iterdir())
        asides: dict[str, list[Path]] = {}
        for path in entries:
            name = path.name
            if path.is_symlink():
                continue
            if path.is_dir() and (m := _PARTIAL.fullmatch(name)) and _named(m["name"], folders):
                found.append(Damage("partial", path, "a folder an interrupted command was building", "remove it"))
            elif path.is_dir() and (m := _ASIDE.fullmatch(name)) and _named(m["name"], folders):
                asides.setdefault(m["name"], []).append(path)
            elif path.is_file() and (m := _TEMP.fullmatch(name)) and m["name"] in files:
                found.append(Damage("temp", path, "a temp file of an interrupted write", "remove it"))
        for name, paths in asides.items():
            original = folder / name
            for path in paths:
                if original.exists() or original.is_symlink():
                    found.append(Damage("aside", path, "an old copy an interrupted command replaced", "remove it"))
                elif len(paths) == 1:
                    found.append(Damage("aside", path, f"{name} was set aside and never replaced", "put it back"))
                else:
                    found.append(
                        Damage("ambiguous", path, f"one of {len(paths)} set-aside copies of missing {name}", None)
                    )
    if layout.runs_dir.is_dir():
        for path in sorted(layout.runs_dir.iterdir()):
            if path.is_dir() and not path.is_symlink() and PRUNED.fullmatch(path.name):
                found.append(Damage("pruned", path, "a run `hni runs --prune` was removing", "remove it"))
    if layout.cache_dir.is_dir():  # hni's own folder: any temp file in it is one of its writes
        for path in sorted(layout.cache_dir.rglob(".*.tmp")):
            if path.is_file() and not path.is_symlink() and _TEMP.fullmatch(path.name):
                found.append(Damage("temp", path, "a temp file of an interrupted write", "remove it"))
    if layout.ray_train_dir.is_dir():
        for path in sorted(layout.ray_train_dir.iterdir()):
            if path.is_dir() and not path.is_symlink() and _RAY_TRAIN_RUN.fullmatch(path.name):
                found.append(
                    Damage("ray-train", path, "a Ray Train checkpoint an interrupted command left", "remove it")
                )
    found += _lock_damage(layout)
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


def _lock_damage(layout: Layout) -> list[Damage]:
    path = lock_path(layout)
    if path.is_symlink():
        return [Damage("lock", path, "the lock is a symbolic link (hni never makes one)", "remove the link")]
    if path.exists() and not path.is_file():
        return [Damage("lock", path, "the lock is not a file", None)]
    return []


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
        if d.kind in ("partial", "pruned", "ray-train"):
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
        elif d.kind == "lock":
            d.path.unlink(missing_ok=True)
        elif d.kind == "head":
            layout.head_path.unlink(missing_ok=True)
        done.append(f"{d.where(layout.root)}: {d.problem}; {d.fix}: done")
    return done

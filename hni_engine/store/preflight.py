"""Checks that run before a command's work: can it write where it will write, is there room for it there?

`hni train`, `extract`, `apply` and `report` each take minutes, or write what others read; a read-only
workspace, a full disk or an output folder that does not exist would otherwise fail only at the end,
after the work. Each command calls its check here first; the check names the path and the problem.

Space needs are rough floors, not promises: what the command writes (a checkpoint of the current
network's size, a concepts folder like the current one, cache entries per image) plus :data:`MARGIN`.

Writes go inside the workspace only: `hni train` refuses a `model.checkpoint` outside it (a user's own
checkpoint is read, never replaced).

Torch-free (`hni report` uses it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hni_dsl.fileio import InputFileError
from hni_engine.store.datahash import data_roots, image_files
from hni_engine.store.layout import Layout, WorkspaceError

if TYPE_CHECKING:
    from hni_engine.store.workspace import Workspace

__all__ = [
    "MARGIN",
    "before_apply",
    "before_extract",
    "before_report",
    "before_train",
    "check_output_file",
    "check_space",
    "check_writable",
    "free_bytes",
    "writable",
]

MIB = 1 << 20
MARGIN = 32 * MIB  # beyond the estimate: temporary files, logs, a little room for the rest of the system
NEW_MODEL = 128 * MIB  # a checkpoint not yet written (a ResNet-50's is about 100 MB)
NEW_CONCEPTS = 16 * MIB  # a first extraction's library, anchors, GRN and exemplar patches
CACHE_PER_IMAGE = 256 * 1024  # segments and patch features of one image in .hni/cache


def _existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (where a new file or folder would be made)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def writable(path: str | Path) -> bool:
    """Whether this process can write file ``path``, or create and replace files in folder ``path`` (or, when
    it does not exist yet, in its nearest existing ancestor)."""
    place = _existing(Path(path))
    return os.access(place, os.W_OK | os.X_OK if place.is_dir() else os.W_OK)


def free_bytes(path: str | Path) -> int:
    """Free space for this process on the disk that holds ``path`` (or its nearest existing ancestor)."""
    return shutil.disk_usage(_existing(Path(path))).free


def _size(path: Path) -> int:
    """Bytes of a file, or of every file below a folder; 0 when there is nothing."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_writable(folder: str | Path, what: str) -> None:
    """Refuse when ``folder`` (where ``what`` is written) cannot be written."""
    if not writable(folder):
        place = _existing(Path(folder))
        raise WorkspaceError(f"{place}: not writable (read-only?); {what} is written there, so nothing was done")


def check_space(folder: str | Path, need: int, what: str) -> None:
    """Refuse when the disk holding ``folder`` has less than ``need`` bytes plus :data:`MARGIN` free."""
    free, wanted = free_bytes(folder), need + MARGIN
    if free < wanted:
        raise WorkspaceError(
            f"{_existing(Path(folder))}: not enough free disk space ({_mb(free)} free, about {_mb(wanted)} "
            f"needed for {what}); free some space first, nothing was done"
        )


def check_output_file(path: str | Path, what: str) -> Path:
    """An output file given on the command line: its folder exists and can be written, it is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise InputFileError(f"{path}: is a folder; give the {what}'s file name")
    if not target.parent.is_dir():
        raise InputFileError(f"{path}: cannot write the {what}: folder {target.parent} does not exist")
    for place in (target.parent, target) if target.exists() else (target.parent,):
        if not writable(place):
            raise InputFileError(f"{path}: cannot write the {what}: {place} is not writable")
    return target


def _workspace_writes(layout: Layout, folder: Path, need: int, what: str) -> None:
    check_writable(layout.root, what)
    check_writable(folder, what)
    check_space(folder, need, what)


def before_train(ws: Workspace) -> Path:
    """`hni train`: the checkpoint goes inside the workspace, which can take it; returns where."""
    target = ws.model_path
    if not ws.contains(target):
        raise WorkspaceError(
            f"{ws.config_path}: model.checkpoint {str(target)!r} is outside the workspace; `hni train` writes "
            f'only inside it and never replaces a file of yours: set model.checkpoint = "model/base.pt"'
        )
    _workspace_writes(ws, target.parent, _size(target) or NEW_MODEL, f"the trained network ({target.name})")
    return target


def before_extract(ws: Workspace, use_cache: bool = True) -> None:
    """`hni extract`: concepts/ (built beside the old one, then swapped in) and, with the cache, .hni/cache."""
    need = max(_size(ws.concepts_dir), NEW_CONCEPTS)
    if use_cache:
        images = sum(1 for root in data_roots(ws).values() for _ in image_files(root))
        need += images * CACHE_PER_IMAGE
        check_writable(ws.cache_dir, "the cache")
    _workspace_writes(ws, ws.root, need, "the concepts (concepts/) and their cache")


def before_apply(ws: Workspace, model_path: Path) -> None:
    """`hni apply`: a run folder in runs/ holding a network the size of ``model_path``, a library and a GRN."""
    need = _size(model_path) + _size(ws.library_path) + _size(ws.grn_path) or NEW_MODEL
    _workspace_writes(ws, ws.runs_dir, need, "the run (runs/)")
    check_writable(ws.cache_dir, "the cache")


def before_report(target: str | Path) -> Path:
    """`hni report`: the output file can be written and its disk has room for it."""
    path = check_output_file(target, "report")
    check_space(path.parent, 0, "the report")
    return path

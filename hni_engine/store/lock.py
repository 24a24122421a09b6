"""One writer at a time: the workspace lock (`.hni/lock`).

Commands that change a workspace (train, extract, apply, doctor --fix) hold an exclusive `flock` on
`.hni/lock` for their whole run; a second one refuses at once and names the holder (its PID and
command), or queues with `--wait`. The kernel drops the lock when its holder exits, however it exits
(kill -9 included), so there are no stale locks to clean; the file itself is there only while held.
Readers take no lock: every write they could see is a whole file or folder renamed into place, and HEAD
moves last.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hni_engine.store.layout import Layout, WorkspaceError

__all__ = ["WorkspaceLocked", "lock_holder", "lock_path", "writer_lock"]


class WorkspaceLocked(WorkspaceError):
    """Another hni process is writing this workspace."""


def lock_path(layout: Layout) -> Path:
    return layout.root / ".hni" / "lock"


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"PID {int(holder['pid'])}, `{holder['command']}`, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another hni process (it has not said which yet)"


def lock_holder(layout: Layout) -> str | None:
    """Who holds the workspace lock now, or None when nobody does."""
    path = lock_path(layout)
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(path)
    finally:
        os.close(fd)
    return None


def _open(path: Path) -> int:
    try:
        # never through a link: the lock must not write wherever a planted symlink points
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "it is a symbolic link, which hni never makes (`hni doctor --fix` removes it)"
        elif exc.errno == errno.EISDIR:
            why = "it is a folder, not a file (remove it)"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            why = "the workspace is read-only"
        else:
            why = exc.strerror or str(exc)
        raise WorkspaceError(f"{path}: cannot take the workspace lock: {why}") from None


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a holder removes the file as it lets go)."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def writer_lock(layout: Layout, command: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the workspace's writer lock for the block; refuse (or, with ``wait``, queue) if it is held.

    The lock file exists only while it is held (a command that fails leaves no trace of it): the holder
    removes it before letting go, and a waiter that then wakes on the removed file opens the new one.
    """
    path = lock_path(layout)
    made_folder = not path.parent.exists()
    if made_folder:
        try:
            path.parent.mkdir(parents=True)
        except OSError as exc:
            raise WorkspaceError(f"{path.parent}: cannot take the workspace lock: {exc.strerror}") from None
    told = False
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(path)
            if not wait:
                os.close(fd)
                raise WorkspaceLocked(
                    f"{layout.root}: another hni command is writing this workspace ({holder}); "
                    "wait for it to finish, or pass --wait to queue behind it"
                ) from None
            if not told:
                print(f"waiting for the workspace lock ({holder}) ...", file=sys.stderr, flush=True)
                told = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _is_current(fd, path):
            break
        os.close(fd)
    try:
        me = {"pid": os.getpid(), "command": command, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.pwrite(fd, json.dumps(me).encode("utf-8"), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it, so nobody can take the old file
        os.close(fd)  # releases the flock
        if made_folder:
            try:
                path.parent.rmdir()  # only if nothing else (a cache) was put there meanwhile
            except OSError:
                pass

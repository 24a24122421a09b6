"""Reading inputs with clear errors, and writing outputs atomically."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import HniError
from .escape import escape

__all__ = ["InputFileError", "atomic_write_bytes", "atomic_write_text", "read_text", "staged_folder"]


class InputFileError(HniError):
    """An input file is missing, unreadable or not UTF-8 text."""


def read_text(path: str | os.PathLike[str], what: str = "file", *, newline: str | None = None) -> str:
    """UTF-8 text; ``newline=""`` keeps line endings as they are (``\\r\\n`` stays), as :func:`open` does."""
    name = escape(str(path))  # messages name the file: print it safely, whatever its name holds
    try:
        kind = os.stat(path).st_mode
        if not stat.S_ISREG(kind) and not stat.S_ISDIR(kind):  # /dev/zero, a pipe: no end, or no file at all
            raise InputFileError(f"{name}: not a regular file (a device or a pipe), not a {what}")
        with open(path, encoding="utf-8", newline=newline) as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputFileError(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise InputFileError(f"{name}: is a directory, not a {what}") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot be read: {exc.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Write via a temp file beside the target and a rename: readers see the old or the new file, never half.

    ``fsync=False`` skips forcing the data to disk (for caches, whose entries can always be recomputed).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:  # mkstemp's private 0600 would stick: give a new file the mode open() would have
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 text, written atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def staged_folder(
    target: str | os.PathLike[str], *, replace: bool = False, before_swap: Callable[[], None] | None = None
) -> Iterator[Path]:
    """Build a folder beside ``target``; when the block ends without an error, rename it into place.

    Readers see the previous folder or the new one, never half of one: the block writes into a hidden
    ``.NAME.partial-XXXXXXXX`` sibling, which is removed if the block (or the swap) fails. An existing
    ``target`` is refused (FileExistsError) unless ``replace``; then it is renamed aside, replaced, and
    deleted, and put back if the swap fails. ``before_swap`` runs just before the swap (a last check).
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    built = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
    built.mkdir()  # not tempfile.mkdtemp: its 0700 mode would stick to the renamed folder
    trash: Path | None = None
    try:
        yield built
        if before_swap is not None:
            before_swap()
        if final.exists():
            if not replace:
                raise FileExistsError(f"{final}: exists already")
            trash = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            final.rename(trash)
        try:
            built.rename(final)
        except BaseException:
            if trash is not None:
                trash.rename(final)  # put the previous folder back rather than leave nothing
                trash = None
            raise
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)

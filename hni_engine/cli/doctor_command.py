"""`hni doctor`: report what an interrupted command or a hand edit left wrong in a workspace; `--fix` repairs it.

Exit status: 0 when the workspace is sound (after the repairs, with --fix), 1 when damage remains.
Torch-free.
"""

from __future__ import annotations

import argparse
import shlex

from hni_engine.cli.language_commands import EXIT_ERRORS, EXIT_OK
from hni_engine.store.doctor import diagnose, repair
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.lock import lock_holder, lock_path, writer_lock

__all__ = ["cmd_doctor"]


def cmd_doctor(args: argparse.Namespace) -> int:
    layout = Layout(args.workspace)
    if not layout.config_path.is_file():
        raise WorkspaceError(f"{layout.root}: not an hni workspace (no hni.toml)")
    if not args.fix:
        holder = lock_holder(layout)
        found = diagnose(layout)
        if holder is not None:
            print(f"note: a command is writing the workspace now ({holder}); what it is building shows as leftovers")
        for damage in found:
            print(damage.line(layout.root))
        if not found:
            print(f"{layout.root}: no damage found")
            return EXIT_OK
        print(f"{len(found)} problem(s); `hni doctor --fix` repairs those with a fix")
        return EXIT_ERRORS
    lock = lock_path(layout)
    if lock.is_symlink():  # it would stop the lock below; unlinking removes the link, never its target
        lock.unlink()
        print(f"{lock}: a symbolic link where the lock goes (hni never makes one); removed")
    with writer_lock(layout, "hni " + shlex.join(getattr(args, "argv", None) or ["doctor", "--fix"]), wait=args.wait):
        for line in repair(layout, diagnose(layout)):
            print(line)
        remaining = diagnose(layout)
    for damage in remaining:
        print(damage.line(layout.root))
    if remaining:
        print(f"{len(remaining)} problem(s) left for a person to look at")
        return EXIT_ERRORS
    print(f"{layout.root}: sound")
    return EXIT_OK

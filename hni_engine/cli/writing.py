"""Around every command: the writer lock for those that change a workspace, a warning for those that read.

A writer (train, extract, apply, checkout, runs --prune) takes the workspace lock (hni_engine.store.lock),
then repairs what an interrupted command left (hni_engine.store.doctor) before it starts. A reader takes no
lock; if it finds leftovers while nobody is writing, it says so and names the fix. Torch-free.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from hni_engine.store.doctor import leftovers, repair
from hni_engine.store.layout import Layout
from hni_engine.store.lock import lock_holder, writer_lock

__all__ = ["READERS", "WRITERS", "run_guarded"]

WRITERS = frozenset({"train", "extract", "apply", "checkout"})
# `hni name` writes when naming, `hni runs` when pruning (not with --dry-run)
READERS = frozenset({"eval", "show", "report", "explain", "compare", "check", "plan", "runs", "suggest"})


def _command_line(args: argparse.Namespace) -> str:
    return "hni " + shlex.join(getattr(args, "argv", None) or [args.command])


def _writes(args: argparse.Namespace) -> bool:
    """A reader command that writes with these arguments: `hni name CONCEPT ...`, `hni runs --prune`."""
    if args.handler == "name":
        return getattr(args, "concept", None) is not None
    return args.handler == "runs" and getattr(args, "prune", False) and not getattr(args, "dry_run", False)


def run_guarded(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    layout = Layout(args.workspace)
    if not layout.config_path.is_file():  # not a workspace: the command itself says what is missing
        return run(args)
    if args.handler in WRITERS or _writes(args):
        with writer_lock(layout, _command_line(args), wait=getattr(args, "wait", False)):
            for line in repair(layout, leftovers(layout), only_leftovers=True):
                print(f"hni: repaired what an interrupted command left: {line}", file=sys.stderr)
            return run(args)
    if args.handler in READERS and lock_holder(layout) is None:
        found = leftovers(layout)
        if found:
            print(
                f"hni: warning: {layout.root} holds {len(found)} leftover(s) of an interrupted command "
                f"({found[0].line(layout.root)}); the next train/extract/apply, or `hni doctor --fix`, repairs them",
                file=sys.stderr,
            )
    return run(args)

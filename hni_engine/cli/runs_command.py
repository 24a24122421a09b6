"""`hni runs` and `hni checkout`: the run history, going back to an earlier state, removing what nothing
builds on (hni_engine.store.history). Torch-free.

hni runs                      # every run: parent, scripts, before/after accuracy, date; HEAD marked
hni runs --json               # the same, for programs
hni checkout 0001             # `hni apply` builds on run 0001-... from now on (`base`: the extraction)
hni runs --prune --dry-run    # the runs HEAD does not build on; --prune alone removes them
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from hni_dsl import load_library
from hni_dsl.errors import HniError
from hni_dsl.escape import escape
from hni_engine.cli.language_commands import EXIT_OK, UsageError
from hni_engine.store.config import ConfigError, load_config
from hni_engine.store.history import (
    BASE,
    History,
    RunRecord,
    checkout_target,
    prunable,
    read_history,
    remove_run,
    select_scripts,
)
from hni_engine.store.layout import Layout, WorkspaceError
from hni_engine.store.runs import move_head

__all__ = ["add_runs_parsers", "cmd_checkout", "cmd_runs"]

RUNS_HELP = "list the runs (parent, scripts, before/after accuracy, date; HEAD marked); --prune removes old ones"
CHECKOUT_HELP = "move HEAD to a run, or to `base` (the extraction), so the next `hni apply` builds on it"


def add_runs_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `hni runs` and `hni checkout`; `hni_engine.cli.app` dispatches on their names."""
    runs = sub.add_parser("runs", help=RUNS_HELP, description=RUNS_HELP)
    runs.add_argument("--json", action="store_true", help="print the runs and HEAD as JSON")
    runs.add_argument(
        "--prune",
        action="store_true",
        help="remove every run that is not HEAD and that HEAD does not build on (takes the writer lock)",
    )
    runs.add_argument(
        "--dry-run", action="store_true", help="with --prune: print what would be removed, remove nothing"
    )
    runs.add_argument("--wait", action="store_true", help="with --prune: queue behind a command writing the workspace")
    runs.set_defaults(handler="runs")
    checkout = sub.add_parser("checkout", help=CHECKOUT_HELP, description=CHECKOUT_HELP)
    checkout.add_argument("run", metavar="RUN|base", help="a run id or a unique prefix such as 0002; or `base`")
    checkout.add_argument("--wait", action="store_true", help="queue behind a command writing the workspace")
    checkout.set_defaults(handler="checkout")


def _layout(args: argparse.Namespace) -> Layout:
    layout = Layout(args.workspace)
    if not layout.config_path.is_file():
        raise WorkspaceError(f"{layout.root}: not an hni workspace (no hni.toml)")
    return layout


def _accuracy(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _head_text(history: History) -> str:
    if history.head_problem is not None:
        return f"HEAD: unreadable ({history.head_problem}); `hni doctor` says how to fix it"
    if history.head is None:
        return f"HEAD: {BASE} (the extraction); `hni apply` builds on it"
    return f"HEAD: {history.head}; `hni apply` builds on it"


def _table(history: History) -> list[str]:
    head = ["", "run", "parent", "status", "before", "after", "created", "scripts"]
    rows = [
        [
            "*" if r.id == history.head else "",
            r.id,
            r.parent_text,
            r.status,
            _accuracy(r.before),
            _accuracy(r.after),
            r.created or "-",
            (", ".join(map(escape, r.scripts)) or "-") + (f"  ({r.failure})" if r.failure else ""),
        ]
        for r in history.runs
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in [head, *rows]
    ]


def _list(layout: Layout, args: argparse.Namespace) -> int:
    history = read_history(layout)
    if args.json:
        print(
            json.dumps(
                {
                    "head": history.head,
                    "head_problem": history.head_problem,
                    "chain": list(history.chain),
                    "runs": [
                        {**r.as_json(), "head": r.id == history.head, "on_head_chain": r.id in history.chain}
                        for r in history.runs
                    ],
                },
                indent=2,
            )
        )
        return EXIT_OK
    if not history.runs:
        print(f"no runs yet in {layout.runs_dir} (`hni apply` makes them)")
        print(_head_text(history))
        return EXIT_OK
    for line in _table(history):
        print(line.rstrip())
    print(_head_text(history))
    for r in history.runs:
        if r.problem and r.status != "failed":
            print(f"note: run {r.id}: {escape(r.problem)}")
    if history.chain_problem is not None:
        print(f"note: HEAD's chain stops before base: {escape(history.chain_problem)}")
    elif history.off_chain:
        n = len(history.off_chain)
        print(
            f"{n} run{'s' if n != 1 else ''} that HEAD does not build on; "
            "`hni runs --prune --dry-run` lists what `--prune` would remove"
        )
    return EXIT_OK


def _describe(record: RunRecord) -> str:
    scripts = ", ".join(map(escape, record.scripts)) or "no scripts"
    status = record.failure if record.failure else record.status
    return f"{record.id} (on {record.parent_text}; {scripts}; {status})"


def _prune(layout: Layout, args: argparse.Namespace) -> int:
    history = read_history(layout)
    doomed = prunable(history)
    kept = ", ".join(history.chain) if history.chain else "none"
    if not doomed:
        print(f"nothing to prune: every run is HEAD or one HEAD builds on (kept: {kept})")
        return EXIT_OK
    for record in doomed:
        if args.dry_run:
            print(f"would remove {_describe(record)}")
        else:
            remove_run(layout, record.id)
            print(f"removed {_describe(record)}")
    where = f"HEAD's chain: {kept}" if history.chain else f"HEAD is {BASE}, so no run is kept"
    print(f"{'nothing removed (--dry-run); ' if args.dry_run else ''}kept {where}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    layout = _layout(args)
    if args.dry_run and not args.prune:
        raise UsageError("--dry-run goes with --prune")
    return _prune(layout, args) if args.prune else _list(layout, args)


def _state(layout: Layout, run: str | None) -> str:
    """What `hni apply` builds on when HEAD names ``run``."""
    if run is not None:
        folder = layout.runs_dir / run
        return f"run {run} (network {folder / 'model.pt'}, library {folder / 'library.json'})"
    try:
        model = str(layout.resolve(load_config(layout.config_path).model.checkpoint))
    except ConfigError:
        model = "the network hni.toml names"
    return f"the extraction (network {model}, library {layout.library_path})"


def _names(paths: Iterable[str]) -> str:
    return ", ".join(escape(PurePath(p).name) for p in paths)


def _edits_status(layout: Layout, run: str | None) -> str | None:
    """Which of edits/*.hni the state already holds, and which `hni apply` would apply; None without any."""
    library_path = layout.runs_dir / run / "library.json" if run else layout.library_path
    scripts = sorted(layout.edits_dir.glob("*.hni")) if layout.edits_dir.is_dir() else []
    if not scripts or not library_path.is_file():
        return None
    try:
        library = load_library(library_path)
        texts = [(str(p), p.read_text(encoding="utf-8")) for p in scripts if p.is_file()]
    except (OSError, UnicodeDecodeError, HniError):  # the status is a courtesy; HEAD has moved all the same
        return None
    chosen = select_scripts(library.applied, texts)
    parts = []
    if chosen.applied:
        parts.append(f"holds {_names(chosen.applied)}")
    if chosen.new:
        parts.append(f"`hni apply` would apply {_names(chosen.new)}")
    if chosen.changed:
        parts.append(f"changed since applied (`hni apply` refuses them): {_names(c.path for c in chosen.changed)}")
    return f"edits/: this state {'; '.join(parts)}" if parts else None


def cmd_checkout(args: argparse.Namespace) -> int:
    layout = _layout(args)
    history = read_history(layout)
    target = checkout_target(layout, args.run)
    was = history.head_problem or history.head or BASE
    now = target or BASE
    if history.head_problem is None and target == history.head:
        print(f"HEAD is already {now}; nothing changed")
    else:
        move_head(layout, target)
        print(f"HEAD was {escape(was)}")
        print(f"HEAD is now {now}")
    print(f"`hni apply` now builds on {_state(layout, target)}")
    edits = _edits_status(layout, target)
    if edits is not None:
        print(edits)
    return EXIT_OK

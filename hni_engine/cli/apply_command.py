"""`hni apply`: edit scripts (or a saved plan) change the network; the run becomes the current state.

Only what is new is applied: a script the current library records as applied (same text) is skipped, and
one whose text changed since it was applied is refused, naming it (hni_engine.store.history).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from hni_dsl import load_library, make_plan
from hni_dsl.errors import HniError
from hni_dsl.escape import escape
from hni_dsl.fileio import read_text
from hni_dsl.library import Library
from hni_dsl.plan import Plan, StalePlanError, apply_plan
from hni_engine.cli.device import limit_threads, resolve_device
from hni_engine.cli.language_commands import EXIT_ERRORS, print_diagnostics, read_scripts, tally
from hni_engine.compute.backend import resolve_backend
from hni_engine.edit.distill_ray import check_shares
from hni_engine.edit.pipeline import apply_plan_to_network
from hni_engine.store import preflight
from hni_engine.store.datahash import warn_stale
from hni_engine.store.history import ScriptSelection, changed_scripts_error, select_scripts
from hni_engine.store.runs import current_state
from hni_engine.store.workspace import Workspace

__all__ = ["cmd_apply", "load_plan_file"]


def load_plan_file(path: str) -> tuple[Plan, dict[str, str]]:
    """A plan saved by `hni plan -o`, with its scripts read back from where the plan names them."""
    try:
        plan = Plan.model_validate_json(read_text(path, "plan"))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HniError(f"{path}: not an hni plan ({where}: {first['msg']}); make one with `hni plan -o`") from None
    sources = {}
    for ref in plan.scripts:
        if not Path(ref.path).is_file():  # a device or a folder is never read: /dev/zero would not end
            raise StalePlanError(
                f"{path}: the plan's script {escape(ref.path)} is not a readable file; make the plan again"
            )
        try:
            sources[ref.path] = read_text(ref.path, "script")
        except Exception:
            raise StalePlanError(f"{path}: the plan's script {ref.path} cannot be read; make the plan again") from None
    return plan, sources


def _refuse_changed(library: Library, scripts: list[tuple[str, str]], where: str) -> ScriptSelection:
    """Which scripts are new and which applied already; a script edited after it was applied stops here."""
    chosen = select_scripts(library.applied, scripts)
    if chosen.changed:
        raise changed_scripts_error(chosen.changed, where)
    return chosen


def cmd_apply(args: argparse.Namespace) -> int:
    limit_threads()
    ws = Workspace(args.workspace)
    _ = ws.config  # a bad hni.toml fails here, before any work
    backend = resolve_backend(args.backend, ws.config.compute)  # so does a backend that cannot be used
    check_shares(backend, ws.config.distill)
    for line in ws.check_config("apply"):  # hni.toml against what train and extract ran with
        print(line, file=sys.stderr)
    state = current_state(ws)
    preflight.before_apply(ws, state.model_path)  # a read-only workspace or a full disk: refused before any work
    warn_stale(ws)
    library = load_library(state.library_path)
    where = f"run {state.run}" if state.run else "the extracted network"
    if len(args.scripts) == 1 and args.scripts[0].endswith(".json"):
        plan, sources = load_plan_file(args.scripts[0])
        _refuse_changed(library, list(sources.items()), where)
        after = apply_plan(library, plan, sources)  # refuses a stale plan
    else:
        scripts = read_scripts(args)
        chosen = _refuse_changed(library, scripts, where)
        if chosen.new:
            print(f"scripts: {chosen.describe()}")
        outcome = make_plan(library, scripts, str(state.library_path))
        print_diagnostics(outcome.diagnostics, outcome.sources, args.max_errors)
        if outcome.plan is None:
            print(f"error: nothing applied: {tally(outcome.diagnostics)}")
            return EXIT_ERRORS
        assert outcome.library_after is not None  # there whenever there is a plan
        plan, after, sources = outcome.plan, outcome.library_after, outcome.sources
    if not plan.has_changes:
        done = [r.path for r in plan.scripts if r.status == "already_applied"]
        idle = [r.path for r in plan.scripts if r.status == "no_changes"]
        parts = ([f"already applied: {', '.join(done)}"] if done else []) + (
            [f"no changes: {', '.join(idle)}"] if idle else []
        )
        print(f"nothing to apply ({'; '.join(parts)}); the current network is {where}")
        return 0
    print(plan.text.rstrip())
    print(f"applying to {where} ({state.model_path})")
    if backend.distributed:
        print(f"distilling on {backend.describe()}")
    result = apply_plan_to_network(
        ws, plan, after, sources, device=resolve_device(args.device), use_cache=not args.no_cache, backend=backend
    )
    print()
    print(result.table())
    grn = result.metrics["grn"]["test_accuracy"]
    if grn is not None:
        fidelity = result.metrics["grn"].get("fidelity")
        agrees = f", agrees with the new network on {fidelity:.3f} of them" if fidelity is not None else ""
        print(f"GRN on the edited graphs: test accuracy {grn:.3f}{agrees}")
    print(f"run written to {result.run_dir} (now the current network; `hni eval --model {result.run_dir}`)")
    return 0

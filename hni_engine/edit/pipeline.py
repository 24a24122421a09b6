"""`hni apply` as a sequence of stages over one context (HNI 3.2, ENGINE.md 5-9).

    resolve -> rebuild I-SCGs -> synthesize defined classes -> retrain the GRN -> distil -> evaluate
        -> compare with the extraction -> record

Each stage is a function of the context (hni_engine.edit.context) that reads what earlier stages wrote
and adds its own; a new stage is one more entry in STAGES. The caller has checked and planned the
scripts (or loaded and verified a saved plan). Runs chain like migrations: the current state is the run
HEAD names, or the extraction; its library records the scripts already applied, so applying them again is
a no-op. The run is written whole and only then does HEAD move, so an apply that fails or is interrupted
leaves the workspace as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hni_dsl.library import Library
from hni_dsl.plan import Plan
from hni_engine.compute.backend import Backend
from hni_engine.edit.comparison import compare_with_extraction
from hni_engine.edit.context import ApplyContext, ApplyResult
from hni_engine.edit.evaluate import evaluate_before_after
from hni_engine.edit.failed_run import RunFailed, record_failed_run
from hni_engine.edit.rebuild import rebuild_graphs, synthesize_defined
from hni_engine.edit.record import record
from hni_engine.edit.resolve import resolve
from hni_engine.edit.retrain import retrain_grn
from hni_engine.edit.teach import distil
from hni_engine.network.guard import TrainingDiverged
from hni_engine.store.runs import FAILED_FILE
from hni_engine.store.workspace import Workspace

__all__ = ["STAGES", "apply_plan_to_network"]

Stage = Callable[[ApplyContext], None]

# (timing key in metrics.json's timings_s, or None: not timed, stage)
STAGES: tuple[tuple[str | None, Stage], ...] = (
    ("load", resolve),
    ("rebuild", rebuild_graphs),
    ("synthesize", synthesize_defined),
    ("grn", retrain_grn),
    ("distill", distil),
    ("evaluate", evaluate_before_after),
    ("compare", compare_with_extraction),
    (None, record),  # writes the timings above into the run
)


def apply_plan_to_network(
    ws: Workspace,
    plan: Plan,
    library_after: Library,
    sources: dict[str, str],
    *,
    device: str = "cpu",
    use_cache: bool = True,
    kind: str | None = None,
    report_as_edited: list[str] | None = None,
    backend: Backend | None = None,
) -> ApplyResult:
    """Apply a verified plan to the current state's network; returns the run written (now HEAD).

    ``kind`` and ``report_as_edited`` exist for controls (benchmarks): an empty plan sent through the
    same path with the temperatures of the edit it controls for, reporting the same classes as edited.
    """
    ctx = ApplyContext(
        ws,
        plan,
        library_after,
        sources,
        device=device,
        use_cache=use_cache,
        kind_override=kind,
        report_as_edited=report_as_edited,
        backend=backend or Backend("local"),
    )
    for key, stage in STAGES:
        start = time.perf_counter()
        try:
            stage(ctx)
        except TrainingDiverged as exc:
            run_dir = record_failed_run(ctx, stage.__name__, str(exc))
            raise RunFailed(
                f"{exc}; nothing applied, the current network is unchanged "
                f"(the failed run is kept in {run_dir}, see {FAILED_FILE} there)"
            ) from None
        if key is not None:
            ctx.timings[key] = time.perf_counter() - start
    return ApplyResult(ctx.run_id, ctx.run_dir, ctx.before, ctx.after, ctx.metrics)

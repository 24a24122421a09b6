"""A run whose training went wrong: kept for the record, marked failed, and never made HEAD.

When the GRN or distillation diverges (hni_engine.network.guard), the network it produced is unusable.
The run folder still records what was tried (the plan, the scripts, the configuration) and why it
failed, so the failure can be read and reproduced; it has no model, and HEAD does not move.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text, staged_folder
from hni_engine import formats
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.record import inputs_digest
from hni_engine.network.models import file_sha256
from hni_engine.store.provenance import versions
from hni_engine.store.runs import FAILED_FILE, next_run_id

__all__ = ["RunFailed", "record_failed_run"]


class RunFailed(HniError):
    """`hni apply` stopped because a stage failed; the run is kept, marked failed, and HEAD is unchanged."""


def record_failed_run(ctx: ApplyContext, stage: str, reason: str) -> Path:
    """Write `runs/<id>/` with the plan, scripts and the reason; HEAD stays where it was."""
    run_id = next_run_id(ctx.ws, inputs_digest(ctx))
    target = ctx.ws.runs_dir / run_id
    with staged_folder(target) as folder:
        atomic_write_text(folder / "plan.txt", ctx.plan.text)
        atomic_write_text(folder / "plan.json", ctx.plan.model_dump_json(indent=2) + "\n")
        (folder / "scripts").mkdir()
        for i, ref in enumerate(ctx.plan.scripts):
            if ref.path in ctx.sources:
                atomic_write_text(folder / "scripts" / f"{i + 1:02d}_{Path(ref.path).name}", ctx.sources[ref.path])
        failure = {
            "format": formats.RUN,
            "run": run_id,
            "status": "failed",
            "stage": stage,
            "reason": reason,
            "parent_run": ctx.state.run,
            "scripts": [{"path": r.path, "sha256": r.sha256, "status": r.status} for r in ctx.plan.scripts],
            "config": {"path": str(ctx.ws.config_path), "sha256": file_sha256(ctx.ws.config_path)},
            "seed": ctx.config.seed,
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_text(folder / FAILED_FILE, json.dumps(failure, indent=2) + "\n")
    return target

"""Stage 8 of `hni apply`: the run folder `runs/<id>/`, then HEAD moves to it (hni_engine.store.runs).

The folder holds the student network and its class list, the edited library (which now says which
output each defined class has), the retrained GRN, the plan as text and JSON, the scripts applied, the
metrics, the comparison with the extraction (compare.json, edit.comparison) and the provenance: hashes
of every input (the data's too), the configuration, the seed and the versions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from hni_dsl.fileio import atomic_write_text
from hni_dsl.library import ClassEntry, Library, library_sha256, write_library
from hni_dsl.plan import text_sha256
from hni_engine import formats
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.evaluate import run_metrics
from hni_engine.graphs.edge_evidence import EdgeDrop
from hni_engine.network.models import file_sha256, save_checkpoint
from hni_engine.store.datahash import DataState, data_state
from hni_engine.store.provenance import versions
from hni_engine.store.runs import next_run_id, record_run

__all__ = ["inputs_digest", "record"]


def _final_library(ctx: ApplyContext, model_sha: str) -> Library:
    """The edited library as the run's network knows it: each defined class has an output now, and the edges
    carry the weights of the run's own GRN."""
    library, after = ctx.library, ctx.library_after
    meta = {
        **after.meta,
        "model_sha256": model_sha,
        "run": ctx.run_id,
        "extracted_model_sha256": library.meta.get("extracted_model_sha256", library.meta.get("model_sha256")),
    }
    entries = tuple(_learnt_edges(_with_output(ctx, e), ctx.edge_drops.get(e.name)) for e in after.classes)
    return Library(classes=entries, applied=after.applied, meta=meta)


def _with_output(ctx: ApplyContext, entry: ClassEntry) -> ClassEntry:
    if entry.output_index is not None:
        return entry
    return entry.model_copy(update={"output_index": ctx.student_classes.index(entry.name)})


def _learnt_edges(entry: ClassEntry, drops: list[EdgeDrop] | None) -> ClassEntry:
    """The class's edges with the weights the run's GRN learnt and their edge-drop test (not the extraction's).
    The drop on turned copies is the extraction's and would be compared with the run's: it is left out."""
    if drops is None:
        return entry
    found = {(d.src + 1, d.dst + 1): d for d in drops}
    edges = tuple(
        e.model_copy(update={"weight": round(found[k].weight, 4), "drop": round(found[k].drop, 4), "turned_drop": None})
        if (k := (e.src, e.dst)) in found
        else e
        for e in entry.graph.edges
    )
    return entry.model_copy(update={"graph": entry.graph.model_copy(update={"edges": edges})})


def _write(ctx: ApplyContext, folder: Path, metrics: dict[str, Any], config_sha: str, data: DataState) -> None:
    m, plan = ctx.config.model, ctx.plan
    model_sha = save_checkpoint(
        ctx.student,
        m.arch,
        ctx.student_classes,
        folder / "model.pt",
        input_size=m.input_size,
        mean=list(m.mean),
        std=list(m.std),
        seed=ctx.config.seed,
    )
    atomic_write_text(folder / "classes.json", json.dumps(ctx.student_classes, indent=2) + "\n")
    final_library = _final_library(ctx, model_sha)
    write_library(final_library, folder / "library.json")
    torch.save({"format": formats.GRN, "classes": ctx.grn_names, "state": ctx.grn.state()}, folder / "grn.pt")
    atomic_write_text(folder / "plan.txt", plan.text)
    atomic_write_text(folder / "plan.json", plan.model_dump_json(indent=2) + "\n")
    (folder / "scripts").mkdir()
    for i, ref in enumerate(plan.scripts):
        if ref.path in ctx.sources:
            atomic_write_text(folder / "scripts" / f"{i + 1:02d}_{Path(ref.path).name}", ctx.sources[ref.path])
    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2, default=float) + "\n")
    comparison = {**ctx.comparison, "b": ctx.run_id}
    atomic_write_text(folder / "compare.json", json.dumps(comparison, indent=2, default=float) + "\n")
    provenance = {
        "format": formats.RUN,
        "run": ctx.run_id,
        "parent_run": ctx.state.run,
        "base_model": {"path": str(ctx.state.model_path), "sha256": ctx.current.sha256},
        "library_before": {"path": str(ctx.state.library_path), "sha256": plan.library_sha256},
        "library_after_sha256": library_sha256(final_library),
        "model_sha256": model_sha,
        "scripts": [{"path": r.path, "sha256": r.sha256, "status": r.status} for r in plan.scripts],
        "config": {"path": str(ctx.ws.config_path), "sha256": config_sha, "key": ctx.config.key()},
        "data": data.summary(),
        "seed": ctx.config.seed,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_write_text(folder / "provenance.json", json.dumps(provenance, indent=2) + "\n")


def inputs_digest(ctx: ApplyContext, data: DataState | None = None) -> str:
    """The digest in a run's id: of everything the run was made from, the images it learnt from and was
    evaluated on included (the same edit on other data is another run)."""
    config_sha = file_sha256(ctx.ws.config_path)
    data_sha = (data if data is not None else data_state(ctx.ws)).sha256
    inputs = json.dumps(
        [ctx.current.sha256, ctx.plan.library_sha256, [s.sha256 for s in ctx.plan.scripts], config_sha, data_sha],
        sort_keys=True,
    )
    return text_sha256(inputs)


def record(ctx: ApplyContext) -> None:
    metrics = ctx.metrics = run_metrics(ctx)
    config_sha = file_sha256(ctx.ws.config_path)
    data = data_state(ctx.ws)
    ctx.run_id = next_run_id(ctx.ws, inputs_digest(ctx, data))
    ctx.run_dir = record_run(ctx.ws, ctx.run_id, lambda folder: _write(ctx, folder, metrics, config_sha, data))

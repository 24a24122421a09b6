"""GRN training data-parallel under Ray Train (`--backend ray`): the same loop as graphs.grn.train_grn.

Each of ``compute.workers`` workers runs `train_grn` with the local run's seed (the same split, order and
concept masking) on its share of every batch, the GRN wrapped in DistributedDataParallel; every worker
evaluates the whole validation split, so all keep the same best epoch. Worker 0's weights and report come
back (compute.data_parallel) and are loaded into the model given, as a local run leaves it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from hni_engine.compute.backend import Backend
from hni_engine.compute.data_parallel import run_data_parallel
from hni_engine.graphs.grn import GRN, ISCGBatch, TrainReport, train_grn

__all__ = ["train_grn_on_ray"]


def train_grn_on_ray(
    backend: Backend, storage: Path, model: GRN, batch: ISCGBatch, targets: Tensor, **options: Any
) -> TrainReport:
    """`train_grn(model, batch, targets, **options)` on Ray Train; ``model`` is trained in place."""
    options.pop("progress", None)  # the workers report to Ray, not to this process's bar
    setup = {"model": model, "batch": batch, "targets": targets, "options": options}
    state = run_data_parallel(backend, storage, _grn_worker, setup, "grn", gpu=str(options.get("device")) == "cuda")
    model.load_state_dict(state["weights"])
    model.eval()
    return TrainReport(**state["report"])


def _grn_worker(
    setup: dict[str, Any],
    rank: int,
    world: int,
    wrap: Callable[[nn.Module], nn.Module],
    summed: Callable[[float], float],
) -> dict[str, Any]:
    model: GRN = setup["model"]
    report = train_grn(
        model,
        setup["batch"],
        setup["targets"],
        **setup["options"],
        rank=rank,
        world=world,
        wrap=wrap,
        total_loss=summed,
    )
    return {"weights": model.state_dict(), "report": dataclasses.asdict(report)}

"""Distillation data-parallel under Ray Train (`hni apply --backend ray`): the same loop as edit.distill.

compute.data_parallel starts ``compute.workers`` workers with a torch process group between them. Each runs
`distill` with the local run's seed, so it draws the same batches and the same erasing, pasting and shifts
of each whole batch, then trains on its share of the batch, its model wrapped in DistributedDataParallel:
every step averages the workers' gradients, the step a local run takes on the whole batch up to
BatchNorm's statistics (each worker's are its share's) and the order of float sums. Worker 0's student
comes back through `.hni/ray-train/`, and the run is written by the same staged write as a local run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from hni_engine.compute.backend import Backend, BackendError
from hni_engine.compute.data_parallel import run_data_parallel
from hni_engine.data.images import ImageSet
from hni_engine.edit import distill as kd
from hni_engine.store.config import DistillConfig

__all__ = ["check_shares", "distill_on_ray"]


def distill_on_ray(
    backend: Backend,
    storage: Path,
    original: nn.Module,
    train: ImageSet,
    soft: Tensor,
    labels: Tensor | None,
    config: DistillConfig,
    temperatures: kd.Temperatures,
    mean: Sequence[float],
    std: Sequence[float],
    **options: Any,
) -> tuple[nn.Module, kd.DistillReport]:
    """`edit.distill.distill` (the same arguments; ``options`` its keyword ones, ``progress`` aside) on Ray
    Train with ``backend.workers`` workers; the student comes back as a module on the CPU."""
    check_shares(backend, config)
    options.pop("progress", None)  # Ray Train's workers report to Ray, not to this process's bar
    setup = {"args": (original, train, soft, labels, config, temperatures, mean, std), "options": options}
    state = run_data_parallel(backend, storage, _distill_worker, setup, "distill", gpu=options.get("device") == "cuda")
    student = kd.grow_classifier(copy.deepcopy(original).cpu(), options.get("extra_classes", 0))
    student.load_state_dict(state["weights"])
    student.eval()
    report = kd.DistillReport(epochs=config.epochs, seconds=state["seconds"], loss=list(state["loss"]))
    return student, report


def check_shares(backend: Backend, config: DistillConfig) -> None:
    """Refuse a batch too small to share: each DDP worker's BatchNorm needs 2 images of every batch."""
    if backend.distributed and config.batch_size < 2 * backend.workers:
        raise BackendError(
            f"distill.batch_size = {config.batch_size} cannot be shared by {backend.workers} workers "
            f"(BatchNorm needs 2 images each): use at least {2 * backend.workers}, or fewer compute.workers"
        )


def _distill_worker(
    setup: dict[str, Any],
    rank: int,
    world: int,
    wrap: Callable[[nn.Module], nn.Module],
    summed: Callable[[float], float],
) -> dict[str, Any]:
    student, report = kd.distill(
        *setup["args"], **setup["options"], rank=rank, world=world, wrap=wrap, total_loss=summed
    )
    return {"weights": student.state_dict(), "loss": report.loss, "seconds": report.seconds}

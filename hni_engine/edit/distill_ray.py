"""Distillation data-parallel under Ray Train (`hni apply --backend ray`): the same loop as edit.distill.

Ray Train's TorchTrainer starts ``compute.workers`` workers with a torch process group between them. Each
runs `distill` with the local run's seed, so it draws the same batches and the same erasing, pasting and
shifts of each whole batch, then trains on its share of the batch, its model wrapped in
DistributedDataParallel: every step averages the workers' gradients, the step a local run takes on the
whole batch up to BatchNorm's statistics (each worker's are its share's) and the order of float sums.
Worker 0 reports the student's weights as a checkpoint under the workspace's `.hni/ray-train/`; they are
loaded here and the folder removed, and the run is written by the same staged write as a local run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hni_engine.compute.backend import Backend, BackendError, connect
from hni_engine.data.images import ImageSet
from hni_engine.edit import distill as kd
from hni_engine.store.config import DistillConfig

__all__ = ["distill_on_ray"]

STUDENT_FILE = "student.pt"


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
    if config.batch_size < 2 * backend.workers:
        raise BackendError(
            f"distill.batch_size = {config.batch_size} cannot be shared by {backend.workers} workers "
            f"(BatchNorm needs 2 images each): use at least {2 * backend.workers}"
        )
    connect(backend)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    options.pop("progress", None)  # Ray Train's workers report to Ray, not to this process's bar
    setup = {
        "args": (original, train, soft, labels, config, temperatures, mean, std),
        "options": options,
    }
    storage.mkdir(parents=True, exist_ok=True)
    name = f"distill-{time.strftime('%Y%m%d-%H%M%S')}"
    trainer = TorchTrainer(
        _worker,
        train_loop_config=setup,
        scaling_config=ScalingConfig(num_workers=backend.workers, use_gpu=options.get("device") == "cuda"),
        run_config=RunConfig(storage_path=str(storage.resolve()), name=name),
    )
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise BackendError("Ray Train finished without the student's weights (worker 0 reported none)")
        with result.checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STUDENT_FILE, map_location="cpu", weights_only=True)
    except BackendError:
        raise
    except Exception as exc:  # Ray Train wraps a worker's failure in its own error types
        raise BackendError(f"distillation on Ray Train failed: {type(exc).__name__}: {exc}") from None
    finally:
        shutil.rmtree(storage / name, ignore_errors=True)
    student = kd.grow_classifier(_copy(original), options.get("extra_classes", 0))
    student.load_state_dict(state["weights"])
    student.eval()
    report = kd.DistillReport(epochs=config.epochs, seconds=state["seconds"], loss=list(state["loss"]))
    return student, report


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).cpu()


def _worker(setup: dict[str, Any]) -> None:
    """One Ray Train worker: its share of each batch, gradients averaged by DDP; worker 0 reports the student."""
    import ray.train
    import torch.distributed as dist
    from ray.train import Checkpoint
    from ray.train.torch import prepare_model

    torch.set_num_threads(1)  # one CPU per worker
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def summed(value: float) -> float:
        total = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(total)
        return float(total.item())

    def epoch_done(epoch: int, epochs: int, loss: float) -> None:
        ray.train.report({"epoch": epoch, "loss": loss})  # every worker reports as often (Ray Train's barrier)

    student, report = kd.distill(
        *setup["args"],
        **setup["options"],
        progress=epoch_done,
        rank=rank,
        world=world,
        wrap=lambda m: prepare_model(m, move_to_device=False),
        total_loss=summed,
    )
    state = {"weights": student.state_dict(), "loss": report.loss, "seconds": report.seconds}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            torch.save(state, Path(folder) / STUDENT_FILE)
            checkpoint = Checkpoint.from_directory(folder)
        ray.train.report({"epoch": report.epochs, "loss": report.loss[-1]}, checkpoint=checkpoint)

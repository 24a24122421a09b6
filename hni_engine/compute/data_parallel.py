"""A PyTorch training loop run data-parallel under Ray Train's TorchTrainer (DDP), its result brought back.

``worker(setup, rank, world, wrap, summed)`` runs in each of ``backend.workers`` Ray Train workers, which
share a torch process group: ``wrap`` makes a model average its gradients across them
(DistributedDataParallel), ``summed`` adds a number over them. Worker 0's return value (a dict of
tensors, numbers, strings and lists: what `torch.load(weights_only=True)` reads back) is saved as a Ray
Train checkpoint under ``storage`` (in the workspace), loaded here, and the checkpoint folder removed; a
kill leaves it for `hni doctor` (a `NAME-YYYYmmdd-HHMMSS` folder).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hni_engine.compute.backend import Backend, BackendError, connect

__all__ = ["Worker", "run_data_parallel"]

STATE_FILE = "state.pt"
Worker = Callable[
    [dict[str, Any], int, int, Callable[[nn.Module], nn.Module], Callable[[float], float]], dict[str, Any]
]


def run_data_parallel(
    backend: Backend, storage: Path, worker: Worker, setup: dict[str, Any], name: str, *, gpu: bool = False
) -> dict[str, Any]:
    """Worker 0's result of ``worker`` run by ``backend.workers`` DDP workers on Ray Train."""
    connect(backend)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    storage.mkdir(parents=True, exist_ok=True)
    run = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    trainer = TorchTrainer(
        _entry,
        train_loop_config={"worker": worker, "setup": setup},
        scaling_config=ScalingConfig(num_workers=backend.workers, use_gpu=gpu),
        run_config=RunConfig(storage_path=str(storage.resolve()), name=run),
    )
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise BackendError(f"{name} on Ray Train finished without a result (worker 0 reported none)")
        with result.checkpoint.as_directory() as folder:
            state: dict[str, Any] = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    except BackendError:
        raise
    except Exception as exc:  # Ray Train wraps a worker's failure in its own error types
        raise BackendError(f"{name} on Ray Train failed: {type(exc).__name__}: {exc}") from None
    finally:
        shutil.rmtree(storage / run, ignore_errors=True)
    return state


def _entry(config: dict[str, Any]) -> None:
    """One Ray Train worker: run the loop on its share; worker 0 reports the result as a checkpoint."""
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

    def wrap(model: nn.Module) -> nn.Module:
        wrapped: nn.Module = prepare_model(model, move_to_device=False)  # typed alike with or without Ray
        return wrapped

    state = config["worker"](config["setup"], rank, world, wrap, summed)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            torch.save(state, Path(folder) / STATE_FILE)
            checkpoint = Checkpoint.from_directory(folder)
        ray.train.report({"done": 1}, checkpoint=checkpoint)  # every worker reports once (Ray Train's barrier)

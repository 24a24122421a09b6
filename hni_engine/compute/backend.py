"""The compute backend a command runs with, and the connection to Ray when it is `ray`.

`ray` connects to the cluster that ``RAY_ADDRESS`` names, as Ray's own tools do (`ray start --head` prints
the address), and otherwise starts a Ray on this machine with ``compute.workers`` CPUs. Tasks read and
write the workspace by its path, so on a cluster the workspace must be on storage every node mounts at
the same path (README, "Running on a cluster").
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from hni_dsl.errors import HniError
from hni_engine.store.config import ComputeConfig

__all__ = ["BACKENDS", "Backend", "BackendError", "connect", "import_ray", "resolve_backend"]

BACKENDS = ("local", "ray")
INSTALL_HINT = "pip install 'hni[scale]'"


class BackendError(HniError):
    """The backend asked for cannot be used (Ray missing, or its cluster unreachable)."""


@dataclass(frozen=True)
class Backend:
    """What a command computes on.

    Attributes:
        name: `local` or `ray`.
        workers: CPUs of a Ray started here (one task each); a cluster's own CPUs are used as they are.
        shard_images: images per task.
    """

    name: Literal["local", "ray"]
    workers: int = 2
    shard_images: int = 256

    @property
    def distributed(self) -> bool:
        return self.name == "ray"

    def describe(self) -> str:
        if not self.distributed:
            return "local (this process)"
        where = os.environ.get("RAY_ADDRESS", "").strip()
        target = f"the Ray cluster at {where}" if where else f"a local Ray with {self.workers} CPUs"
        return f"ray ({target}, {self.shard_images} images per task)"


def resolve_backend(flag: str | None, config: ComputeConfig) -> Backend:
    """``--backend`` when given, else hni.toml's ``compute.backend``; ``ray`` needs Ray installed."""
    name = flag or config.backend
    if name not in BACKENDS:
        raise BackendError(f"--backend {name}: expected one of {', '.join(BACKENDS)}")
    backend = Backend(name, config.workers, config.shard_images)  # type: ignore[arg-type]  # checked above
    if backend.distributed:
        import_ray()
    return backend


def import_ray() -> ModuleType:
    """The `ray` module, or a BackendError that says how to install it."""
    try:
        return importlib.import_module("ray")  # typed the same with or without Ray's own annotations
    except ImportError:
        raise BackendError(f"the ray backend needs Ray, which is not installed here: {INSTALL_HINT}") from None


def connect(backend: Backend) -> ModuleType:
    """Ray, connected: to ``RAY_ADDRESS`` when set, else to a Ray started here (once per process)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = os.environ.get("RAY_ADDRESS", "").strip()
    options: dict[str, object] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=backend.workers, **options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
        raise BackendError(f"could not connect to {where}: {type(exc).__name__}: {exc}") from None
    return ray

"""Run one function over shards of work on the backend: in order here, or as Ray tasks at once.

A shard is the tuple of arguments of one call. Its result comes back in shard order whatever order the
tasks finish in. A task's own HniError (a data file changed, a cache gone) reaches the user as it would
locally; anything else is reported with the shard it happened in. Interrupting cancels the tasks still
waiting; the ones already finished have written their results (to the workspace cache, for analysis).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hni_dsl.errors import HniError
from hni_engine.compute.backend import Backend, BackendError, connect
from hni_engine.progress import bar

__all__ = ["run_shards"]


def run_shards(
    backend: Backend,
    task: Callable[..., Any],
    shards: Sequence[tuple[Any, ...]],
    sizes: Sequence[int],
    desc: str,
    unit: str = "img",
) -> list[Any]:
    """``[task(*shard) for shard in shards]`` on ``backend``; ``sizes`` (units per shard) drive the bar."""
    if not shards:
        return []
    with bar(sum(sizes), desc, unit) as progress:
        if not backend.distributed:
            out = []
            for shard, size in zip(shards, sizes):
                out.append(task(*shard))
                progress.update(size)
            return out
        return _on_ray(backend, task, shards, sizes, progress.update)


def _on_ray(
    backend: Backend,
    task: Callable[..., Any],
    shards: Sequence[tuple[Any, ...]],
    sizes: Sequence[int],
    advance: Callable[[int], object],
) -> list[Any]:
    ray = connect(backend)
    # One CPU per task; a retry covers a worker lost mid-task (its finished images are cached already).
    remote = ray.remote(num_cpus=1, max_retries=1)(task)
    refs = [remote.remote(*shard) for shard in shards]
    position = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = position[ref]
                results[i] = _result(ray, ref, i, len(refs))
                advance(sizes[i])
    except BaseException:
        for ref in pending:  # interrupted or failed: stop what has not run (finished shards stay written)
            ray.cancel(ref)
        raise
    return results


def _result(ray: Any, ref: Any, index: int, count: int) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, HniError):  # the task's own clear error, as a local run would raise it
            raise cause from None
        what = cause or exc
        raise BackendError(f"task {index + 1} of {count} failed on Ray: {type(what).__name__}: {what}") from None
    except ray.exceptions.RayError as exc:  # a worker or node lost past its retry
        raise BackendError(f"task {index + 1} of {count} was lost on Ray: {type(exc).__name__}: {exc}") from None

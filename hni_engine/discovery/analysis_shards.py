"""Extraction's per-image pass over shards of a split, on the compute backend (hni_engine.compute).

Each shard's task rebuilds the analyser from the workspace (its hni.toml, network and cache folder) and
analyses its images, which writes their entries into the workspace cache; the command then reads every
analysis back from the cache, exactly as a local run reads a warm cache. Only images with no entries yet
are sent, so a killed extraction resumes from the images its finished shards analysed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hni_engine.compute.backend import Backend
from hni_engine.compute.shards import run_shards
from hni_engine.data.image_array import ImageArray, take
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser
from hni_engine.network.models import load_checkpoint
from hni_engine.store.cache import Cache
from hni_engine.store.workspace import Workspace

__all__ = ["AnalyserRecipe", "Remote", "analyse_shard", "analyser_for", "sharded_prefetch", "uncached"]

BATCH = 32  # images per forward pass inside a task, as analyse_all's


@dataclass(frozen=True)
class AnalyserRecipe:
    """What a task needs to rebuild the command's analyser where it runs (small, picklable)."""

    workspace: str
    classes: tuple[str, ...]
    coi: tuple[int, ...]
    device: str


@dataclass(frozen=True)
class Remote:
    """Where a command's tasks run and how they rebuild its analyser there."""

    backend: Backend
    recipe: AnalyserRecipe


_built: dict[AnalyserRecipe, Analyser] = {}  # per worker process: later shards reuse the loaded network


def analyser_for(recipe: AnalyserRecipe) -> Analyser:
    """The recipe's analyser in this (worker) process, built once: one CPU, the workspace's cache."""
    if recipe not in _built:
        torch.set_num_threads(1)  # a task has one CPU
        ws = Workspace(recipe.workspace)
        config = ws.config
        loaded = load_checkpoint(ws.model_path, config.model.arch, list(recipe.classes))
        loaded.model.to(recipe.device)
        _built.clear()
        _built[recipe] = Analyser(loaded, config, recipe.coi, Cache(ws.cache_dir), recipe.device, str(ws.config_path))
    return _built[recipe]


def analyse_shard(recipe: AnalyserRecipe, images: ImageArray, digests: Sequence[str]) -> int:
    """Analyse one shard where the task runs (its results go into the workspace cache); the images done."""
    analyser = analyser_for(recipe)
    for start in range(0, len(digests), BATCH):
        idx = np.arange(start, min(start + BATCH, len(digests)))
        analyser.analyse(np.asarray(images[idx]), list(digests[start : start + BATCH]))
    return len(digests)


def uncached(analyser: Analyser, digests: Sequence[str]) -> np.ndarray:
    """Positions of the images whose analysis is not (wholly) in the cache yet."""
    return np.asarray([i for i, digest in enumerate(digests) if not analyser.cached(digest)], dtype=np.int64)


def sharded_prefetch(backend: Backend, recipe: AnalyserRecipe, analyser: Analyser) -> Callable[[ImageSet, str], None]:
    """A prefetch for `analyse_all`: the split's uncached images analysed by shards on ``backend``."""

    def prefetch(data: ImageSet, desc: str) -> None:
        todo = uncached(analyser, data.digests)
        if not len(todo):
            return
        parts = np.array_split(todo, -(-len(todo) // backend.shard_images))
        shards = [(recipe, take(data.images, part), [data.digests[i] for i in part]) for part in parts]
        run_shards(backend, analyse_shard, shards, [len(p) for p in parts], f"{desc} ({backend.name})")

    return prefetch

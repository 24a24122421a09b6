"""Each class's pool measured by deletion (discovery.deletion) and ranked by it.

Runs after discovery, on the same discovery images: the network sees each image once per concept present
in it with the concept's patches erased, and once with random patches of the same area erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hni_engine.compute.shards import run_shards
from hni_engine.data.image_array import ImageArray, take
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, ImageAnalysis
from hni_engine.discovery.analysis_shards import AnalyserRecipe, Remote, analyser_for
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.deletion import (
    METHOD,
    ConceptDeletion,
    DeletionSummary,
    LogitReader,
    assign_patches,
    measure_deletion,
)
from hni_engine.progress import bar

__all__ = ["concept_patches", "fill_colour", "measure_class", "rank_by_deletion"]

BATCH = 64


def concept_patches(
    analyses: Sequence[ImageAnalysis], images: Iterable[int], row: int, anchors: np.ndarray, thresholds: np.ndarray
) -> list[dict[int, list[int]]]:
    """Per concept (row of ``anchors``), {image id: its segments in that image}, among each image's candidates
    for the class in Grad-CAM row ``row``, found as the image graphs find concepts (``assign_patches``)."""
    out: list[dict[int, list[int]]] = [{} for _ in anchors]
    for i in images:
        a = analyses[i]
        for k, segments in enumerate(assign_patches(a.features, a.inside[row] >= 0.5, anchors, thresholds)):
            if segments:
                out[k][i] = segments
    return out


def fill_colour(mean: tuple[float, float, float] | list[float]) -> np.ndarray:
    """The normalisation mean as a uint8 colour: what the network receives as zeros."""
    return np.clip(np.round(np.asarray(mean, dtype=float) * 255), 0, 255).astype(np.uint8)


def rank_by_deletion(
    analyser: Analyser,
    data: ImageSet,
    analyses: list[ImageAnalysis],
    pools: dict[str, list[Concept]],
    discovery_images: dict[str, np.ndarray],
    labels: dict[str, int],
    rows: dict[str, int],
    remote: Remote | None = None,
) -> dict[str, Any]:
    """Fill in every concept's deletion evidence and sort each pool by its logit drop (largest first).

    Args:
        labels: each class's network output; rows: its row in the analyses' Grad-CAM overlaps.
        remote: where classes are measured when not here (one task per class, analysis_shards).

    Returns the per-class summary for extract.json: the class's evidence, what random erasures of a
    concept's area do (the fill's own effect), the forward passes spent and the images measured.
    """
    m = analyser.config.model
    fill = fill_colour(m.mean)
    seed = analyser.config.seed
    names = list(pools)
    images = {name: [int(i) for i in discovery_images[name]] for name in names}
    patches = {
        name: concept_patches(
            analyses,
            images[name],
            rows[name],
            np.stack([c.anchor for c in pools[name]]),
            np.array([c.threshold for c in pools[name]]),
        )
        for name in names
    }
    base = {name: [float(analyses[i].logits[labels[name]]) for i in images[name]] for name in names}
    if remote is not None and remote.backend.distributed:
        shards = []
        for name in names:
            at = {i: k for k, i in enumerate(images[name])}  # the task sees its class's images as 0..n-1
            local = [{at[i]: segments for i, segments in found.items()} for found in patches[name]]
            picked = np.asarray(images[name], dtype=np.int64)
            subset = (take(data.images, picked), [data.digests[i] for i in picked])
            shards.append((remote.recipe, *subset, local, base[name], labels[name], fill, seed))
        measured = run_shards(
            remote.backend, measure_class, shards, [1] * len(names), "measuring concept importance by deletion", "class"
        )
    else:
        read = LogitReader(analyser.loaded.model, m.mean, m.std, analyser.device, BATCH)
        measured = []
        with bar(len(pools), "measuring concept importance by deletion", "class") as progress:
            for name in names:
                measured.append(
                    measure_deletion(
                        images[name],
                        patches[name],
                        lambda i: data.images[i],
                        lambda i: analyser.masks(data.images[i], data.digests[i]),
                        base[name],
                        read,
                        labels[name],
                        fill,
                        seed,
                    )
                )
                progress.update(1)

    summary: dict[str, Any] = {"method": METHOD, "fill_rgb": fill.tolist(), "classes": {}}
    for name, (found, stats) in zip(names, measured):
        concepts = pools[name]
        for concept, evidence, found_in in zip(concepts, found, patches[name]):
            concept.deletion = evidence
            where = [analyses[i].centres[segments] for i, segments in found_in.items()]
            concept.centres = np.concatenate(where) if where else np.zeros((0, 2), np.float32)
        concepts.sort(key=lambda c: (-c.deletion.logit_drop if c.deletion else 0.0, c.key))
        summary["classes"][name] = {
            "evidence": round(stats.evidence, 4),
            "random_patch_drop": round(stats.random_drop, 4),
            "forward_passes": stats.forward_passes,
            "images": [data.digests[i] for i in images[name]],  # by content: a moved workspace still matches
        }
    return summary


def measure_class(
    recipe: AnalyserRecipe,
    images: ImageArray,
    digests: Sequence[str],
    patches: list[dict[int, list[int]]],
    base_logits: list[float],
    label: int,
    fill: np.ndarray,
    seed: int,
) -> tuple[list[ConceptDeletion], DeletionSummary]:
    """One class's deletion evidence where a task runs: the network rebuilt from the workspace, each
    image's segments read from its cache (``images`` are the class's discovery images, in order)."""
    analyser = analyser_for(recipe)
    m = analyser.config.model
    read = LogitReader(analyser.loaded.model, m.mean, m.std, analyser.device, BATCH)
    return measure_deletion(
        list(range(len(digests))),
        patches,
        lambda k: images[k],
        lambda k: analyser.masks(images[k], digests[k]),
        base_logits,
        read,
        label,
        fill,
        seed,
    )

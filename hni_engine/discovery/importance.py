"""Each class's pool measured by deletion (discovery.deletion) and ranked by it.

Runs after discovery, on the same discovery images: the network sees each image once per concept present
in it with the concept's patches erased, and once with random patches of the same area erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, ImageAnalysis
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.deletion import METHOD, LogitReader, assign_patches, measure_deletion
from hni_engine.progress import bar

__all__ = ["concept_patches", "fill_colour", "rank_by_deletion"]

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
) -> dict[str, Any]:
    """Fill in every concept's deletion evidence and sort each pool by its logit drop (largest first).

    Args:
        labels: each class's network output; rows: its row in the analyses' Grad-CAM overlaps.

    Returns the per-class summary for extract.json: the class's evidence, what random erasures of a
    concept's area do (the fill's own effect), the forward passes spent and the images measured.
    """
    m = analyser.config.model
    read = LogitReader(analyser.loaded.model, m.mean, m.std, analyser.device, BATCH)
    fill = fill_colour(m.mean)

    def masks_of(i: int) -> np.ndarray:
        return analyser.masks(data.images[i], data.digests[i])

    summary: dict[str, Any] = {"method": METHOD, "fill_rgb": fill.tolist(), "classes": {}}
    with bar(len(pools), "measuring concept importance by deletion", "class") as progress:
        for name, concepts in pools.items():
            label = labels[name]
            images = [int(i) for i in discovery_images[name]]
            anchors = np.stack([c.anchor for c in concepts])
            thresholds = np.array([c.threshold for c in concepts])
            patches = concept_patches(analyses, images, rows[name], anchors, thresholds)
            found, stats = measure_deletion(
                images,
                patches,
                lambda i: data.images[i],
                masks_of,
                [float(analyses[i].logits[label]) for i in images],
                read,
                label,
                fill,
                analyser.config.seed,
            )
            for concept, evidence, found_in in zip(concepts, found, patches):
                concept.deletion = evidence
                where = [analyses[i].centres[segments] for i, segments in found_in.items()]
                concept.centres = np.concatenate(where) if where else np.zeros((0, 2), np.float32)
            concepts.sort(key=lambda c: (-c.deletion.logit_drop if c.deletion else 0.0, c.key))
            summary["classes"][name] = {
                "evidence": round(stats.evidence, 4),
                "random_patch_drop": round(stats.random_drop, 4),
                "forward_passes": stats.forward_passes,
                "images": [data.digests[i] for i in images],  # by content: a moved workspace still matches
            }
            progress.update(1)
    return summary

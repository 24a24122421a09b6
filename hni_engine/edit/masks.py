"""Which pixels distillation erases or transplants: the concepts an edit removed, and forbidden ones.

The student sees these pixels erased (or pasted into another class's images) while the teachers' labels
stay, so the concepts stop being evidence (hni_engine.edit.distill). Segment masks come from the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch

from hni_dsl.library import Library
from hni_engine.discovery.analysis import ImagePatches
from hni_engine.edit.context import ApplyContext
from hni_engine.graphs.scg import match_nodes

__all__ = ["class_masks", "forbidden_concept_masks", "forbidden_concepts", "removed_concept_masks"]

Picker = Callable[[ImagePatches], np.ndarray]  # an image's patches -> the segments to take


def class_masks(ctx: ApplyContext, select: dict[str, Picker]) -> tuple[torch.Tensor | None, dict[str, int]]:
    """Per training image, the pixels of the segments ``select[class](patches)`` picks in its class's images.

    Returns ((N, H, W) bool over ``train``, or None when ``select`` is empty; {class: images with
    something picked})."""
    if not select:
        return None, {}
    train, coi_train, coi_names, coi = ctx.train, ctx.coi_train, ctx.coi_names, ctx.coi
    size = train.images.shape[1]
    masks = torch.zeros(len(train), size, size, dtype=torch.bool)
    position = {digest: i for i, digest in enumerate(train.digests)}
    counts: dict[str, int] = {}
    for name, pick in select.items():
        counts[name] = 0
        for k in np.flatnonzero(coi_train.labels == coi[coi_names.index(name)]):
            segments = pick(ctx.train_patches[k])
            if len(segments) == 0:
                continue
            segment_masks = ctx.analyser.masks(coi_train.images[k], coi_train.digests[k])  # from the cache
            masks[position[coi_train.digests[k]]] |= torch.from_numpy(segment_masks[segments].any(axis=0))
            counts[name] += 1
    return masks, counts


def removed_concept_masks(ctx: ApplyContext) -> tuple[torch.Tensor | None, dict[str, int]]:
    """Per training image, the pixels of the concepts the edit removed from that image's class's c-SCG.

    A removed concept is matched (one-to-one, with its own threshold) among the patches of the class's
    images that overlap the class's Grad-CAM: where the network looked. Returns ((N, H, W) bool over
    ``train``, or None when nothing was removed; {class: images with something to erase}).
    """
    extracted = ctx.extracted
    select: dict[str, Picker] = {}
    for name in ctx.edited:
        before, after = ctx.library.get(name), ctx.library_after.get(name)
        if before is None or after is None or name not in ctx.coi_names:
            continue
        gone = [cid for cid in before.graph.nodes if cid not in after.graph.nodes]
        if not gone:
            continue
        anchors = np.stack([extracted.anchors[cid] for cid in gone]).astype(np.float32)
        thresholds = np.array([extracted.thresholds[cid] for cid in gone], dtype=np.float32)
        row = ctx.coi_names.index(name)

        def pick(
            patches: ImagePatches, anchors: np.ndarray = anchors, thresholds: np.ndarray = thresholds, row: int = row
        ) -> np.ndarray:
            cand = np.flatnonzero(patches.candidates[row])
            hit = match_nodes(patches.features[cand], anchors, thresholds)
            return cast(np.ndarray, cand[hit[hit >= 0]])

        select[name] = pick
    return class_masks(ctx, select)


def forbidden_concepts(library: Library) -> dict[str, tuple[str, ...]]:
    """{class: the concepts it is forbidden (`forbid`)}, for the classes that have any."""
    return {e.name: tuple(e.forbidden) for e in library.classes if e.forbidden}


def forbidden_concept_masks(
    ctx: ApplyContext, forbidden: dict[str, tuple[str, ...]]
) -> tuple[torch.Tensor | None, dict[str, int]]:
    """Per training image, the pixels of every patch that shows a concept its class is forbidden.

    Unlike a c-SCG slot, which takes one patch, a forbidden concept is erased wherever it shows, since a
    concept is often a piece of an object (a large context object splits into several concepts and many
    segments). A patch of the class's images (Grad-CAM or not, any segmentation scale) shows it when,
    among the class's pool concepts and its forbidden ones, it is the patch's nearest anchor and within
    its own threshold: the threshold alone would also take background that happens to lie near it.
    Returns ((N, H, W) bool over ``train`` or None, {class: images with something to erase})."""
    extracted, library = ctx.extracted, ctx.library_after
    select: dict[str, Picker] = {}
    for name, ids in forbidden.items():
        if name not in ctx.coi_names:
            continue
        entry = library.get(name)
        assert entry is not None
        known = list(dict.fromkeys([c.id for c in entry.pool] + list(ids)))
        anchors = np.stack([extracted.anchors[cid] for cid in known]).astype(np.float32)
        thresholds = np.array([extracted.thresholds[cid] for cid in known], dtype=np.float32)
        is_forbidden = np.isin(known, ids)

        def pick(
            patches: ImagePatches,
            anchors: np.ndarray = anchors,
            thresholds: np.ndarray = thresholds,
            is_forbidden: np.ndarray = is_forbidden,
        ) -> np.ndarray:
            features = patches.features[:, : anchors.shape[1]]
            if len(features) == 0:
                return np.zeros(0, dtype=np.int64)
            distance = np.linalg.norm(features[:, None, :] - anchors[None, :, :], axis=2)  # (S, known)
            nearest = distance.argmin(axis=1)
            return np.flatnonzero(
                (distance[np.arange(len(features)), nearest] <= thresholds[nearest]) & is_forbidden[nearest]
            )

        select[name] = pick
    return class_masks(ctx, select)

"""Image-level structural concept graphs (I-SCGs): matching a class's c-SCG concepts to an image's patches.

For one image and one class graph, each node is matched to a *distinct* patch by a one-to-one assignment
(Hungarian algorithm on feature distances, not a greedy pick), and a match is accepted only when its
distance is under that concept's own threshold: a percentile of its members' distances to the anchor, so
the rule does not depend on the feature scale (the official code used a fixed 40000). An unmatched node
is absent (the GRN gives it a dummy feature) and has no position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from hni_engine.discovery.analysis import ImagePatches
from hni_engine.graphs.grn import ISCGBatch

__all__ = ["NodeConcept", "assemble", "iscg_batch", "match_class", "match_nodes"]


@dataclass(frozen=True)
class NodeConcept:
    concept_id: str
    anchor: np.ndarray  # (D,)
    threshold: float


def match_nodes(features: np.ndarray, anchors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Patch index matched to each node (-1 where none is close enough). One patch serves one node at most.

    Args:
        features: (S, D') candidate patch features; only the anchors' leading D dimensions are compared.
        anchors: (k, D) concept anchors.
        thresholds: (k,) accepted distance per concept.
    """
    k = len(anchors)
    out = np.full(k, -1, dtype=np.int64)
    if len(features) == 0 or k == 0:
        return out
    if features.shape[1] < anchors.shape[1]:
        raise ValueError(
            f"patch features have {features.shape[1]} dimensions, fewer than the anchors' {anchors.shape[1]}"
        )
    features = features[:, : anchors.shape[1]]
    cost = np.linalg.norm(anchors[:, None, :] - features[None, :, :], axis=2)  # (k, S)
    rows, cols = linear_sum_assignment(cost)
    accepted = cost[rows, cols] <= thresholds[rows]
    out[rows[accepted]] = cols[accepted]
    return out


def match_class(
    images: Sequence[ImagePatches], class_index: int, nodes: Sequence[NodeConcept]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One class graph over many images: node features (N, k, D), presence (N, k), positions (N, k, 2)."""
    k = len(nodes)
    dim = images[0].features.shape[1] if images else (len(nodes[0].anchor) if nodes else 0)
    anchors = np.stack([n.anchor for n in nodes]).astype(np.float32) if nodes else np.zeros((0, dim), np.float32)
    thresholds = np.array([n.threshold for n in nodes], dtype=np.float32)
    x = np.zeros((len(images), k, dim), dtype=np.float32)
    present = np.zeros((len(images), k), dtype=bool)
    pos = np.zeros((len(images), k, 2), dtype=np.float32)
    for i, image in enumerate(images):
        features = image.features  # read once (a released analysis reads it from the cache)
        cand = np.flatnonzero(image.candidates[class_index])
        chosen = match_nodes(features[cand], anchors, thresholds)
        hit = chosen >= 0
        patches = cand[chosen[hit]]
        x[i, hit] = features[patches]
        present[i, hit] = True
        pos[i, hit] = image.centres[patches]
    return torch.from_numpy(x), torch.from_numpy(present), torch.from_numpy(pos)


def assemble(
    per_class: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate per-class (x, present, pos) along the slot axis, in class order: (N, T, D), (N, T), (N, T, 2)."""
    xs, ps, qs = zip(*per_class)
    return torch.cat(xs, 1), torch.cat(ps, 1), torch.cat(qs, 1)


def iscg_batch(patches: Sequence[ImagePatches], rows: Sequence[int], nodes: list[list[NodeConcept]]) -> ISCGBatch:
    """The I-SCGs of many images for every class graph: class graph g is matched against the patches'
    candidate row ``rows[g]`` (which Grad-CAM region, or every patch for a class without one)."""
    x, present, pos = assemble([match_class(patches, row, class_nodes) for row, class_nodes in zip(rows, nodes)])
    return ISCGBatch(x=x, present=present, pos=pos)

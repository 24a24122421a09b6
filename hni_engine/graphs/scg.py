"""Image-level structural concept graphs (I-SCGs): matching a class's c-SCG concepts to an image's patches.

For one image and one class graph, each node is matched to a *distinct* patch by a one-to-one assignment
(Hungarian algorithm on feature distances, not a greedy pick), and a match is accepted only when its
distance is under that concept's own threshold: a percentile of its members' distances to the anchor, so
the rule does not depend on the feature scale (the official code used a fixed 40000). An unmatched node
is absent (the GRN gives it a dummy feature) and has no position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["NodeConcept", "ImagePatches", "match_nodes", "match_class", "assemble"]


@dataclass(frozen=True)
class NodeConcept:
    concept_id: str
    anchor: np.ndarray   # (D,)
    threshold: float


@dataclass
class ImagePatches:
    """One image's candidate patches: features, centres, and per class which patches overlap its Grad-CAM.

    ``features`` are what the GRN's nodes receive. Their leading dimensions are the space concepts live
    in (the anchors' size); any trailing ones (the patch's context features, see
    ``ExtractConfig.context_features``) travel with the node but take no part in matching.
    """

    features: np.ndarray      # (S, D) float32, D >= the anchors' size
    centres: np.ndarray       # (S, 2) normalised (x, y)
    candidates: np.ndarray    # (n_classes, S) bool: segment overlaps that class's Grad-CAM mask (every segment with
    #                           `extract.concept_region = "image"`)


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
        raise ValueError(f"patch features have {features.shape[1]} dimensions, fewer than the anchors' "
                         f"{anchors.shape[1]}")
    features = features[:, :anchors.shape[1]]
    cost = np.linalg.norm(anchors[:, None, :] - features[None, :, :], axis=2)  # (k, S)
    rows, cols = linear_sum_assignment(cost)
    accepted = cost[rows, cols] <= thresholds[rows]
    out[rows[accepted]] = cols[accepted]
    return out


def match_class(images: Sequence[ImagePatches], class_index: int, nodes: Sequence[NodeConcept]
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
        cand = np.flatnonzero(image.candidates[class_index])
        chosen = match_nodes(image.features[cand], anchors, thresholds)
        hit = chosen >= 0
        patches = cand[chosen[hit]]
        x[i, hit] = image.features[patches]
        present[i, hit] = True
        pos[i, hit] = image.centres[patches]
    return torch.from_numpy(x), torch.from_numpy(present), torch.from_numpy(pos)


def assemble(per_class: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate per-class (x, present, pos) along the slot axis, in class order: (N, T, D), (N, T), (N, T, 2)."""
    xs, ps, qs = zip(*per_class)
    return torch.cat(xs, 1), torch.cat(ps, 1), torch.cat(qs, 1)

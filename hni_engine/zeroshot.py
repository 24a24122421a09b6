"""Graphs for classes defined from parts of others (`define class`, HNI 4.2 and appendix E; ENGINE.md 9).

A defined class has no images. Each synthetic sample is a *virtual image*: for part i, the patch of a
random seen training image where that part's concept was matched; placed at the position where slot i of
the `edges like` class was matched in one random image of that class. The virtual image's graphs are then
built for every class by the ordinary matcher, exactly as a real image's are.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .scg import ImagePatches, NodeConcept, match_nodes

__all__ = ["part_patches", "synthesize"]


def part_patches(concept: NodeConcept, images: Sequence[ImagePatches], candidates_row: int) -> np.ndarray:
    """Features (M, D) of the patches that match ``concept`` in ``images`` (one per image at most)."""
    rows = []
    anchor, threshold = concept.anchor[None].astype(np.float32), np.array([concept.threshold], np.float32)
    for image in images:
        cand = np.flatnonzero(image.candidates[candidates_row])
        hit = match_nodes(image.features[cand], anchor, threshold)[0]
        if hit >= 0:
            rows.append(image.features[cand[hit]])
    dim = len(concept.anchor)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)


def synthesize(parts: Sequence[np.ndarray], layouts: np.ndarray, layout_present: np.ndarray, count: int,
               n_rows: int, rng: np.random.Generator) -> list[ImagePatches]:
    """``count`` virtual images of a defined class.

    Args:
        parts: per part i, the features (M_i, D) of its matched patches in seen images (each non-empty).
        layouts: (L, m, 2) positions of the `edges like` class's first m slots in L of its images.
        layout_present: (L, m) where those slots were matched.
        n_rows: candidate rows the virtual image needs (one per class graph it is matched against).
    """
    m = len(parts)
    if any(len(p) == 0 for p in parts):
        raise ValueError("every part needs at least one matched patch")
    usable = np.flatnonzero(layout_present.any(axis=1))
    if len(usable) == 0:
        raise ValueError("the `edges like` class has no image with a matched slot")
    # Prefer layouts where every slot was matched; fill a missing slot from another image's match.
    complete = np.flatnonzero(layout_present.all(axis=1))
    pool = complete if len(complete) else usable
    out = []
    for _ in range(count):
        base = pool[rng.integers(len(pool))]
        centres = layouts[base].copy()
        for i in range(m):
            if not layout_present[base, i]:
                with_slot = np.flatnonzero(layout_present[:, i])
                centres[i] = layouts[with_slot[rng.integers(len(with_slot))], i] if len(with_slot) else 0.5
        features = np.stack([p[rng.integers(len(p))] for p in parts]).astype(np.float32)
        out.append(ImagePatches(features, centres.astype(np.float32), np.ones((n_rows, m), dtype=bool)))
    return out

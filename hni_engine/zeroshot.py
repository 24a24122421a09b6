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


def synthesize(parts: Sequence[np.ndarray], like_images: Sequence[ImagePatches], like_slots: np.ndarray,
               count: int, n_rows: int, rng: np.random.Generator) -> list[ImagePatches]:
    """``count`` virtual images of a defined class.

    A virtual image is a real image of the `edges like` class whose patches matched to that class's
    first m slots are swapped for the parts' patches: the parts sit where the class's concepts sat,
    among the same background and clutter a real image has (graphs of images made of the parts alone
    would look like no real image, and a GRN trained on them would not recognise the class in photos).

    Args:
        parts: per part i, the features (M_i, D) of its matched patches in seen images (each non-empty).
        like_images: the `edges like` class's training images.
        like_slots: (L, m) the patch matched to each of its first m slots in each image (-1: none).
        n_rows: candidate rows of the virtual image (one per class graph it is matched against); rows
            beyond the like images' own (defined classes) take every patch.
    """
    m = len(parts)
    if any(len(p) == 0 for p in parts):
        raise ValueError("every part needs at least one matched patch")
    matched = (like_slots >= 0).sum(axis=1)
    if len(like_images) == 0 or matched.max() == 0:
        raise ValueError("the `edges like` class has no image with a matched slot")
    # Prefer layouts where every slot was matched; a missing slot gets a new patch at another image's
    # position for that slot.
    pool = np.flatnonzero(matched == matched.max())
    out = []
    for _ in range(count):
        base = int(pool[rng.integers(len(pool))])
        image = like_images[base]
        features, centres = image.features.copy(), image.centres.copy()
        rows = np.ones((n_rows, len(features)), dtype=bool)
        rows[: len(image.candidates)] = image.candidates[:n_rows]
        extra_f, extra_c = [], []
        for i in range(m):
            feature = parts[i][rng.integers(len(parts[i]))]
            patch = like_slots[base, i]
            if patch >= 0:
                features[patch] = feature
                rows[:, patch] = True  # the part is a candidate for every class, wherever it came from
            else:
                donors = np.flatnonzero(like_slots[:, i] >= 0)
                donor = int(donors[rng.integers(len(donors))]) if len(donors) else None
                extra_f.append(feature)
                extra_c.append(like_images[donor].centres[like_slots[donor, i]] if donor is not None
                               else np.array([0.5, 0.5], np.float32))
        if extra_f:
            features = np.concatenate([features, np.stack(extra_f)])
            centres = np.concatenate([centres, np.stack(extra_c)])
            rows = np.concatenate([rows, np.ones((n_rows, len(extra_f)), dtype=bool)], axis=1)
        out.append(ImagePatches(features.astype(np.float32), centres.astype(np.float32), rows))
    return out

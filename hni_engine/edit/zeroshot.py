"""Graphs for classes defined from parts of others (`define class`, HNI 4.2 and appendix E; ENGINE.md 9).

A defined class has no images. Each synthetic sample is a *virtual image*: for part i, the patch of a
random seen training image where that part's concept was matched; placed at the position where slot i of
the `edges like` class was matched in one random image of that class. The virtual image's graphs are then
built for every class by the ordinary matcher, exactly as a real image's are.

Each virtual image keeps its recipe (which image it is built on, which patch goes where), so the same
composition can also be made in pixels (`compose`): the student network, which sees pixels, can then be
shown what the GRN was taught (`distill.composite_images`; the paper distils from seen images only).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from hni_engine.discovery.analysis import ImagePatches
from hni_engine.graphs.scg import NodeConcept, match_nodes

__all__ = ["VirtualImage", "background_canvas", "compose", "part_patches", "synthesize"]


def part_patches(
    concept: NodeConcept, images: Sequence[ImagePatches], candidates_row: int
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Features (M, D) of the patches that match ``concept`` in ``images`` (one per image at most), and
    where each came from: (index into ``images``, patch index)."""
    rows, sources = [], []
    anchor, threshold = concept.anchor[None].astype(np.float32), np.array([concept.threshold], np.float32)
    for k, image in enumerate(images):
        cand = np.flatnonzero(image.candidates[candidates_row])
        hit = match_nodes(image.features[cand], anchor, threshold)[0]
        if hit >= 0:
            rows.append(image.features[cand[hit]])
            sources.append((k, int(cand[hit])))
    dim = len(concept.anchor)
    return (np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)), sources


@dataclass
class VirtualImage:
    """A synthesized sample: its patches and how to make it in pixels."""

    patches: ImagePatches
    base: int  # index into the like images
    # per part: (part index, index into that part's matched patches, target patch of the base or -1,
    # target centre as normalised (x, y))
    pastes: list[tuple[int, int, int, tuple[float, float]]] = field(default_factory=list)


def synthesize(
    parts: Sequence[np.ndarray],
    like_images: Sequence[ImagePatches],
    like_slots: np.ndarray,
    count: int,
    n_rows: int,
    rng: np.random.Generator,
) -> list[VirtualImage]:
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
    matched = (like_slots >= 0).sum(axis=1) if len(like_slots) else np.zeros(0, np.int64)
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
        extra_f, extra_c, pastes = [], [], []
        for i in range(m):
            pick = int(rng.integers(len(parts[i])))
            feature = parts[i][pick]
            patch = int(like_slots[base, i])
            if patch >= 0:
                features[patch] = feature
                rows[:, patch] = True  # the part is a candidate for every class, wherever it came from
                centre = image.centres[patch]
            else:
                donors = np.flatnonzero(like_slots[:, i] >= 0)
                donor = int(donors[rng.integers(len(donors))]) if len(donors) else None
                centre = (
                    like_images[donor].centres[like_slots[donor, i]]
                    if donor is not None
                    else np.array([0.5, 0.5], np.float32)
                )
                extra_f.append(feature)
                extra_c.append(centre)
            pastes.append((i, pick, patch, (float(centre[0]), float(centre[1]))))
        if extra_f:
            features = np.concatenate([features, np.stack(extra_f)])
            centres = np.concatenate([centres, np.stack(extra_c)])
            rows = np.concatenate([rows, np.ones((n_rows, len(extra_f)), dtype=bool)], axis=1)
        out.append(
            VirtualImage(ImagePatches(features.astype(np.float32), centres.astype(np.float32), rows), base, pastes)
        )
    return out


CANVAS_CELLS = 4  # the canvas keeps the base's background at this coarse a grid, and none of its objects


def background_canvas(image: np.ndarray, cells: int = CANVAS_CELLS) -> np.ndarray:
    """The image's background without its objects: the per-channel median of each cell of a coarse grid,
    interpolated smoothly between cell centres. An object covering less than half of a cell leaves no
    trace; clearing only the segments where the `edges like` class's concepts matched left that class's
    other parts in view, and the student learnt them as the new class (measured: BENCHMARKS.md)."""
    import torch
    import torch.nn.functional as F

    height, width, channels = image.shape
    rows = np.linspace(0, height, cells + 1).round().astype(int)
    cols = np.linspace(0, width, cells + 1).round().astype(int)
    grid = np.array(
        [
            [np.median(image[r0:r1, c0:c1].reshape(-1, channels), axis=0) for c0, c1 in itertools.pairwise(cols)]
            for r0, r1 in itertools.pairwise(rows)
        ],
        np.float32,
    )
    # Bilinear between cell centres, held constant beyond the outer ones.
    smooth = (
        F.interpolate(
            torch.from_numpy(grid).permute(2, 0, 1)[None], size=(height, width), mode="bilinear", align_corners=False
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    return cast(np.ndarray, np.clip(np.rint(smooth), 0, 255).astype(np.uint8))


def compose(
    base: np.ndarray,
    pastes: Sequence[tuple[int, tuple[float, float]]],
    sources: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """A virtual image in pixels: each part pasted, centred where its slot was matched, on the background
    of an image of the `edges like` class (`background_canvas`: that class's own parts removed).

    Args:
        base: (H, W, 3) uint8 image of the `edges like` class.
        pastes: per part, (target segment of the base or -1, target centre as normalised (x, y)).
        sources: per part, (its source image (H, W, 3) uint8, the part's (H, W) bool mask there).
    """
    out = background_canvas(base)
    height, width = out.shape[:2]
    for (_, (cx, cy)), (image, mask) in zip(pastes, sources):
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            continue
        dy = int(round(cy * height - 0.5 - ys.mean()))
        dx = int(round(cx * width - 0.5 - xs.mean()))
        ty, tx = ys + dy, xs + dx
        ok = (ty >= 0) & (ty < height) & (tx >= 0) & (tx < width)
        out[ty[ok], tx[ok]] = image[ys[ok], xs[ok]]
    return out

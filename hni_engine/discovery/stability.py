"""Is a concept a property of the network, or of one k-means run? Discovery again with another seed.

Discovery is repeated with the seed plus one (other discovery images where the class has more than it
needs, another k-means start, other random patches). On the images either run used, each run's concepts
are found patch by patch as the image graphs find them (discovery.deletion.assign_patches), and a concept
of the first run is **stable** when some concept of the second covers mostly the same patches: Jaccard
overlap of the two patch sets at least ``STABLE_JACCARD``. The cost is the clustering and the matching:
every patch feature comes from the per-image cache.

(A looser rule, "the second run has an anchor within the concept's matching threshold", was tried first
and called every concept of every built-in scenario stable: the thresholds are wide enough to hold
several concepts of one class.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hni_engine.discovery.analysis import ImageAnalysis
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.importance import concept_patches

__all__ = ["STABLE_JACCARD", "Stability", "compare_runs"]

STABLE_JACCARD = 0.5


@dataclass(frozen=True)
class Stability:
    stable: bool
    jaccard: float  # the best overlap with a concept of the second run


def _patch_sets(
    concepts: Sequence[Concept], analyses: Sequence[ImageAnalysis], images: Sequence[int], row: int
) -> list[set[tuple[int, int]]]:
    if not concepts:
        return []
    anchors = np.stack([c.anchor for c in concepts])
    found = concept_patches(analyses, images, row, anchors, np.array([c.threshold for c in concepts]))
    return [{(i, s) for i, segments in by_image.items() for s in segments} for by_image in found]


def compare_runs(
    first: dict[str, list[Concept]],
    second: dict[str, list[Concept]],
    analyses: Sequence[ImageAnalysis],
    images: Mapping[str, Sequence[int]],
    rows: Mapping[str, int],
) -> dict[str, list[Stability]]:
    """For each class, each concept of ``first`` (in its order): did ``second`` find it too?

    Args:
        images: per class, the images either run discovered it in; rows: its row in the Grad-CAM overlaps.
    """
    out: dict[str, list[Stability]] = {}
    for name, concepts in first.items():
        mine = _patch_sets(concepts, analyses, images[name], rows[name])
        theirs = _patch_sets(second.get(name, []), analyses, images[name], rows[name])
        found = []
        for patches in mine:
            best = max(
                (len(patches & other) / len(patches | other) for other in theirs if patches | other), default=0.0
            )
            found.append(Stability(best >= STABLE_JACCARD, best))
        out[name] = found
    return out

"""Is a concept a property of the network, or of one k-means run? Discovery again with another seed.

Discovery is repeated with the seed plus one (other discovery images where the class has more than it
needs, another k-means start, other random patches). A concept is **stable** when the second run found it
too: some concept of the same class in the second run has its anchor within the first concept's matching
threshold, so the image graphs would match one for the other. The cost is the clustering alone: every
patch feature comes from the per-image cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hni_engine.discovery.concepts import Concept

__all__ = ["Stability", "compare_runs"]


@dataclass(frozen=True)
class Stability:
    stable: bool
    distance: float  # to the nearest anchor of the second run, over the concept's matching threshold


def compare_runs(first: dict[str, list[Concept]], second: dict[str, list[Concept]]) -> dict[str, list[Stability]]:
    """For each class, each concept of ``first`` (in its order): was it found again in ``second``?"""
    out: dict[str, list[Stability]] = {}
    for name, concepts in first.items():
        others = second.get(name, [])
        anchors = np.stack([c.anchor for c in others]) if others else np.zeros((0, 1), np.float32)
        found = []
        for c in concepts:
            if not others:
                found.append(Stability(False, float("inf")))
                continue
            nearest = float(np.linalg.norm(anchors - c.anchor, axis=1).min())
            ratio = nearest / c.threshold if c.threshold > 0 else float("inf")
            found.append(Stability(ratio <= 1.0, ratio))
        out[name] = found
    return out

"""Per-concept error analysis (ConceptExtract): how does the network do on images that show a concept?

For every pool concept and every held-out test image, the concept is **in** the image when one of the
image's patches lies within the concept's matching threshold of its anchor (the rule the image graphs
match by). The network's accuracy on the images with the concept against those without, and the
confusions (true class -> predicted class) among the images with it, show a reviewer which concepts
the network's mistakes go with: a background patch that many misclassified images share is a candidate
for an edit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CONFUSIONS_SHOWN", "ConceptErrors", "concept_errors", "presence"]

CONFUSIONS_SHOWN = 3


@dataclass(frozen=True)
class ConceptErrors:
    accuracy_with: float | None  # None where no image has the concept
    accuracy_without: float | None
    images_with: int
    images_without: int
    confusions: tuple[tuple[str, str, int], ...]  # (true class, predicted class, images), most first


def presence(features: Sequence[np.ndarray], anchors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N, P) bool: image n has a patch within concept p's threshold. ``features`` are each image's (S, D')
    patch features; only the first D = anchors.shape[1] columns count (the rest are context features)."""
    out = np.zeros((len(features), len(anchors)), dtype=bool)
    a2 = (anchors.astype(np.float64) ** 2).sum(axis=1)  # (P,)
    for n, f in enumerate(features):
        if not len(f):
            continue
        x = f[:, : anchors.shape[1]].astype(np.float64)
        squared = (x**2).sum(axis=1)[:, None] + a2[None] - 2 * x @ anchors.T.astype(np.float64)  # (S, P)
        out[n] = np.sqrt(np.maximum(squared.min(axis=0), 0.0)) <= thresholds
    return out


def concept_errors(
    present: np.ndarray, labels: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]
) -> list[ConceptErrors]:
    """One entry per concept (column of ``present``) from the images' true and predicted output indices."""
    correct = labels == predicted
    out = []
    for p in range(present.shape[1]):
        has = present[:, p]
        wrong = has & ~correct
        counts = Counter(zip(labels[wrong].tolist(), predicted[wrong].tolist()))
        confusions = tuple(
            (class_names[t], class_names[q], n)
            for (t, q), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:CONFUSIONS_SHOWN]
        )
        out.append(
            ConceptErrors(
                float(correct[has].mean()) if has.any() else None,
                float(correct[~has].mean()) if (~has).any() else None,
                int(has.sum()),
                int((~has).sum()),
                confusions,
            )
        )
    return out

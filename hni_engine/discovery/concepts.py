"""Concept discovery for one class (ACE, VRX 3.1): cluster patch features, keep frequent clusters,
score them by TCAV with a significance test. Extraction then measures each concept by deletion and
ranks the pool by that (discovery.importance): TCAV is kept beside it, for comparison.

Inputs are features of the segments inside the class's Grad-CAM mask in ~50 of its images, features of
random patches from other classes (TCAV's negatives), and the gradient of the class logit with respect
to the (spatially averaged) feature layer for the class's images.

A note on TCAV at the last convolutional layer of a network whose head is global-average-pool + linear
(ResNets at `layer4`): the gradient of a logit with respect to the pooled feature is the class's weight
row, the same for every image, so the TCAV score of a concept is 0 or 1. The ranking then comes from the
mean directional derivative (how far moving along the concept's direction raises the logit), which is
reported beside the score; with other heads or layers the gradients vary per image and the score is the
usual fraction.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from scipy import stats
from sklearn.cluster import KMeans, MiniBatchKMeans

from hni_engine.discovery.deletion import ConceptDeletion
from hni_engine.discovery.errors import ConceptErrors

__all__ = ["Concept", "DiscoveryConfig", "discover_concepts", "tcav"]


@dataclass(frozen=True)
class DiscoveryConfig:
    clusters: int = 25
    min_cluster_images: float = 0.3
    cluster_members: int = 40
    tcav_random_sets: int = 10
    tcav_alpha: float = 0.05
    match_percentile: float = 95.0
    seed: int = 0


@dataclass
class Concept:
    """One discovered concept of a class. ``key`` is derived from its members, so it never changes meaning."""

    key: str
    anchor: np.ndarray  # (D,) mean feature of the kept members
    threshold: float  # matching threshold: a percentile of per-image best-match distances
    tcav_score: float  # fraction of class images whose logit gradient agrees with the CAV
    directional: float  # mean directional derivative (ranking tie-break, see module doc)
    p_value: float  # concept CAVs above random CAVs (one-sided Welch t-test)
    images: int  # distinct images among all cluster members
    members: list[tuple[int, int]] = field(default_factory=list)  # (image id, segment id), nearest first
    deletion: ConceptDeletion | None = None  # filled in by discovery.importance
    stable: bool | None = None  # found again by discovery with another seed (discovery.stability)
    errors: ConceptErrors | None = None  # the network's accuracy with and without it (discovery.errors)
    # (P, 2) normalised centres of the concept's patches in the discovery images (discovery.importance)
    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))

    def __repr__(self) -> str:
        return (
            f"Concept({self.key}, tcav={self.tcav_score:.2f}, dd={self.directional:.3g}, "
            f"p={self.p_value:.3g}, images={self.images})"
        )


def _cav(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """The concept activation vector: the unit normal of the nearest-centroid boundary between the concept's
    patches and random ones (a linear classifier like TCAV's, in closed form: thousands are fitted per run)."""
    w = positives.mean(axis=0) - negatives.mean(axis=0)
    unit: np.ndarray = w / (np.linalg.norm(w) + 1e-12)
    return unit


def tcav(
    positives: np.ndarray, random_pool: np.ndarray, gradients: np.ndarray, runs: int, rng: np.random.Generator
) -> tuple[list[float], list[float]]:
    """TCAV scores and mean directional derivatives of one concept over ``runs`` random negative sets."""
    scores, directional = [], []
    n = len(positives)
    for _ in range(runs):
        negatives = random_pool[rng.choice(len(random_pool), size=min(n, len(random_pool)), replace=False)]
        cav = _cav(positives, negatives)
        dd = gradients @ cav  # (n_images,)
        scores.append(float(np.mean(dd > 0)))
        directional.append(float(np.mean(dd)))
    return scores, directional


def _p_value(concept: list[float], random: list[float]) -> float:
    """One-sided: how likely scores this far above the random CAVs' are by chance. A concept the class
    logit falls along (TCAV score below random) is evidence against the class, not one of its concepts:
    a two-sided test called such concepts significant and ranked background patches first."""
    a, b = np.asarray(concept), np.asarray(random)
    if a.std() == 0 and b.std() == 0:
        return 0.0 if a.mean() > b.mean() else 1.0
    with warnings.catch_warnings():  # near-constant samples: scipy warns, the p-value is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    return 1.0 if math.isnan(p) else float(p)


# Past this many patches in one class (a large `extract.images_per_class`), k-means runs on mini-batches:
# its memory and time then follow the batch, not the patch count (Sculley 2010, as scikit-learn has it).
MINIBATCH_FROM = 50_000
MINIBATCH_SIZE = 4096


def _kmeans(k: int, seed: int, patches: int) -> KMeans | MiniBatchKMeans:
    if patches >= MINIBATCH_FROM:
        return MiniBatchKMeans(n_clusters=k, batch_size=MINIBATCH_SIZE, n_init=4, random_state=seed)
    return KMeans(n_clusters=k, n_init=4, random_state=seed)


def discover_concepts(
    features: np.ndarray, owners: np.ndarray, random_pool: np.ndarray, gradients: np.ndarray, config: DiscoveryConfig
) -> list[Concept]:
    """Concepts of one class, most important first.

    Args:
        features: (M, D) features of the class's candidate segments.
        owners: (M, 2) int (image id, segment id) of each row.
        random_pool: (R, D) features of random patches from other classes.
        gradients: (I, D) class-logit gradients w.r.t. the pooled feature layer, one per class image.
    """
    rng = np.random.default_rng(config.seed)
    image_ids, image_slot = np.unique(owners[:, 0], return_inverse=True)
    n_images = len(image_ids)
    k = min(config.clusters, len(features))
    if k < 2:
        return []
    km = _kmeans(k, config.seed, len(features)).fit(features)
    distances = np.linalg.norm(features - km.cluster_centers_[km.labels_], axis=1)

    # Random CAVs (random vs random) are the null distribution of the significance test.
    random_scores, _ = tcav(
        random_pool[rng.permutation(len(random_pool))[: max(2, len(random_pool) // 2)]],
        random_pool,
        gradients,
        config.tcav_random_sets,
        rng,
    )
    concepts: list[Concept] = []
    for cluster in range(k):
        idx = np.flatnonzero(km.labels_ == cluster)
        images_in = len(np.unique(owners[idx, 0]))
        if images_in < config.min_cluster_images * n_images:
            continue  # ACE's frequency rule: a concept recurs across the class's images
        nearest = idx[np.argsort(distances[idx], kind="stable")][: config.cluster_members]
        members = features[nearest]
        anchor = members.mean(axis=0)
        # Matching threshold, free of the feature scale: how close the concept's best patch usually comes
        # in the class's own images (a percentile of the per-image nearest distances to the anchor).
        to_anchor = np.linalg.norm(features - anchor, axis=1)
        best_per_image = np.full(n_images, np.inf)
        np.minimum.at(best_per_image, image_slot, to_anchor)
        scores, directional = tcav(members, random_pool, gradients, config.tcav_random_sets, rng)
        keyed = ",".join(f"{i}:{s}" for i, s in sorted(map(tuple, owners[nearest].tolist())))
        concepts.append(
            Concept(
                key=hashlib.sha256(keyed.encode()).hexdigest()[:6],
                anchor=anchor.astype(np.float32),
                threshold=float(np.percentile(best_per_image, config.match_percentile)),
                tcav_score=float(np.mean(scores)),
                directional=float(np.mean(directional)),
                p_value=_p_value(scores, random_scores),
                images=images_in,
                members=cast(list[tuple[int, int]], [tuple(map(int, o)) for o in owners[nearest]]),  # (N, 2) rows
            )
        )
    concepts.sort(key=lambda c: (-(c.p_value < config.tcav_alpha), -c.tcav_score, -c.directional, c.key))
    return concepts

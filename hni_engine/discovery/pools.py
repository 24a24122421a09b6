"""Each class's concept pool (ACE, VRX 3.1): k-means over the patches of its images that lie in its
Grad-CAM region (or the whole image), kept by ACE's frequency rule, ranked by TCAV (discovery.concepts)."""

from __future__ import annotations

import numpy as np

from hni_dsl.errors import HniError
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import ImageAnalysis
from hni_engine.discovery.concepts import Concept, DiscoveryConfig, discover_concepts
from hni_engine.progress import bar
from hni_engine.store.config import HniConfig

__all__ = ["RANDOM_PATCHES", "ExtractError", "discover_pools"]

RANDOM_PATCHES = 600  # patches of other classes' images: TCAV's random counterexamples


class ExtractError(HniError):
    """Extraction cannot go on with this data and configuration."""


def _discovery_images(
    data: ImageSet, analyses: list[ImageAnalysis], label: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Up to ``count`` images of a class, correctly classified ones first (their concepts are the class's)."""
    idx = data.indices_of(label)
    correct = np.array([analyses[i].logits.argmax() == label for i in idx])
    ordered = np.concatenate([rng.permutation(idx[correct]), rng.permutation(idx[~correct])])
    return ordered[:count]


def discover_pools(
    config: HniConfig,
    data: ImageSet,
    analyses: list[ImageAnalysis],
    coi: list[int],
    names: list[str],
    relaxed: dict[str, float],
    discovery_images: dict[str, np.ndarray] | None = None,
    desc: str = "discovering concepts",
) -> dict[str, list[Concept]]:
    """Each class's concept pool; classes whose frequency rule had to be relaxed are noted in ``relaxed``,
    and the images each class's concepts were discovered in go to ``discovery_images`` when given."""
    e = config.extract
    rng = np.random.default_rng(config.seed)
    pools: dict[str, list[Concept]] = {}
    with bar(len(coi), desc, "class") as progress:
        for j, label in enumerate(coi):
            chosen = _discovery_images(data, analyses, label, e.images_per_class, rng)
            rows: list[np.ndarray] = []
            owners: list[tuple[int, int]] = []
            for i in chosen:
                keep = np.flatnonzero(analyses[i].inside[j] >= 0.5)  # segments mostly inside the class's CAM
                rows.append(analyses[i].features[keep])
                owners.extend((int(i), int(s)) for s in keep)
            features = np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)
            others = np.flatnonzero(data.labels != label)
            picks = rng.choice(others, size=min(len(others), RANDOM_PATCHES), replace=len(others) < RANDOM_PATCHES)
            random_pool = np.stack([analyses[i].features[rng.integers(len(analyses[i].features))] for i in picks])
            gradients = np.stack([analyses[i].gradient[j] for i in chosen])
            concepts: list[Concept] = []
            frequency = e.min_cluster_images
            while not concepts and frequency >= 0.05 and len(features) >= 2:
                dc = DiscoveryConfig(
                    clusters=e.clusters,
                    min_cluster_images=frequency,
                    cluster_members=e.cluster_members,
                    tcav_random_sets=e.tcav_random_sets,
                    tcav_alpha=e.tcav_alpha,
                    match_percentile=e.match_percentile,
                    seed=config.seed,
                )
                concepts = discover_concepts(
                    features, np.array(owners, dtype=np.int64).reshape(-1, 2), random_pool, gradients, dc
                )
                frequency /= 2  # a class whose patches vary a lot: relax ACE's frequency rule, and say so
            if not concepts:
                raise ExtractError(
                    f"no concept found for class {names[label]!r}: {len(features)} segments inside "
                    f"its Grad-CAM regions; give it more images or lower extract.clusters"
                )
            if frequency * 2 < e.min_cluster_images:
                relaxed[names[label]] = frequency * 2
            pools[names[label]] = concepts
            if discovery_images is not None:
                discovery_images[names[label]] = chosen
            progress.update(1)
    return pools

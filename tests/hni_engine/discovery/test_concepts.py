"""Concept discovery on features with known structure."""

from __future__ import annotations

import numpy as np

from hni_engine.discovery.concepts import DiscoveryConfig, discover_concepts


def _world(seed=0, images=20, dim=16):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:3] * 6.0  # three concepts, each present once in every image
    rows, owners = [], []
    for i in range(images):
        for c in range(3):
            rows.append(centres[c] + rng.normal(0, 0.3, dim))
            owners.append((i, c))
        rows.append(rng.normal(0, 3.0, dim))  # one noise patch per image, never the same "concept"
        owners.append((i, 3))
    random_pool = rng.normal(0, 3.0, (300, dim))
    # The class logit rises along concept 1's direction, falls along concept 0's.
    gradient = np.zeros(dim)
    gradient[1], gradient[0] = 1.0, -1.0
    gradients = gradient + rng.normal(0, 0.05, (images, dim))
    return np.array(rows, np.float32), np.array(owners), random_pool.astype(np.float32), gradients


def test_finds_the_recurring_concepts_and_ranks_by_tcav():
    features, owners, random_pool, gradients = _world()
    concepts = discover_concepts(
        features,
        owners,
        random_pool,
        gradients,
        DiscoveryConfig(clusters=6, min_cluster_images=0.5, cluster_members=15),
    )
    # Each kept concept's members come from one true concept.
    true = [{int(s) for _, s in c.members} for c in concepts]
    assert all(len(t) == 1 for t in true)
    assert {next(iter(t)) for t in true} >= {0, 1, 2}
    first = next(iter(true[0]))
    assert first == 1, concepts  # the concept the class logit rises along ranks first
    assert concepts[0].tcav_score > 0.9 and concepts[0].p_value < 0.05
    assert all(c.threshold > 0 and c.anchor.shape == (16,) for c in concepts)


def test_deterministic_and_keys_derive_from_members():
    args = _world()
    a = discover_concepts(*args, DiscoveryConfig(clusters=6, cluster_members=15))
    b = discover_concepts(*args, DiscoveryConfig(clusters=6, cluster_members=15))
    assert [c.key for c in a] == [c.key for c in b]
    assert len({c.key for c in a}) == len(a)


def test_frequency_rule_drops_rare_clusters():
    features, owners, random_pool, gradients = _world()
    concepts = discover_concepts(
        features,
        owners,
        random_pool,
        gradients,
        DiscoveryConfig(clusters=6, min_cluster_images=1.0, cluster_members=15),
    )
    assert all(c.images == 20 for c in concepts)


def test_a_concept_the_logit_falls_along_is_not_significant_and_ranks_last():
    """TCAV's test is one-sided here: scores far *below* random mark evidence against the class."""
    features, owners, random_pool, gradients = _world()
    concepts = discover_concepts(
        features,
        owners,
        random_pool,
        gradients,
        DiscoveryConfig(clusters=6, min_cluster_images=0.5, cluster_members=15),
    )
    true = [next(iter({int(s) for _, s in c.members})) for c in concepts]
    falling = concepts[true.index(0)]
    assert falling.tcav_score < 0.1 and falling.p_value > 0.5
    assert true.index(0) > true.index(2) > true.index(1)  # rising, then neutral, then falling


def test_many_patches_cluster_on_mini_batches_and_find_the_same_concepts(monkeypatch):
    import hni_engine.discovery.concepts as concepts_module

    args = _world(images=40)
    config = DiscoveryConfig(clusters=6, min_cluster_images=0.5, cluster_members=15)
    full = discover_concepts(*args, config)
    monkeypatch.setattr(concepts_module, "MINIBATCH_FROM", 10)
    monkeypatch.setattr(concepts_module, "MINIBATCH_SIZE", 32)
    assert isinstance(concepts_module._kmeans(6, 0, 160), concepts_module.MiniBatchKMeans)
    batched = discover_concepts(*args, config)
    found = [{frozenset(int(s) for _, s in c.members) for c in run} for run in (full, batched)]
    assert {frozenset({0}), frozenset({1}), frozenset({2})} <= found[0]
    assert {frozenset({0}), frozenset({1}), frozenset({2})} <= found[1]

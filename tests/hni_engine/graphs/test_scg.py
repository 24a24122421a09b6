"""Matching concepts to patches: one-to-one, optimal, and thresholded."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hni_engine.discovery.analysis import ImagePatches
from hni_engine.graphs.scg import NodeConcept, assemble, match_class, match_nodes


def test_optimal_not_greedy():
    # Greedy would give patch 0 to node 0 (distance 1) and leave node 1 with patch 1 (distance 10);
    # the assignment gives node 0 patch 1 (2) and node 1 patch 0 (2): total 4 instead of 11.
    anchors = np.array([[0.0], [3.0]])
    features = np.array([[1.0], [-2.0]])
    out = match_nodes(features, anchors, np.array([5.0, 5.0]))
    assert out.tolist() == [0, 1] or out.tolist() == [1, 0]
    cost = sum(abs(features[p, 0] - anchors[n, 0]) for n, p in enumerate(out))
    assert cost == 4.0


def test_threshold_makes_a_node_absent():
    anchors = np.array([[0.0, 0.0], [10.0, 10.0]])
    features = np.array([[0.1, 0.0]])
    assert match_nodes(features, anchors, np.array([1.0, 1.0])).tolist() == [0, -1]
    assert match_nodes(np.zeros((0, 2)), anchors, np.array([1.0, 1.0])).tolist() == [-1, -1]


@given(
    arrays(np.float32, st.tuples(st.integers(0, 12), st.just(3)), elements=st.floats(-5, 5, width=32)),
    arrays(np.float32, st.tuples(st.integers(1, 6), st.just(3)), elements=st.floats(-5, 5, width=32)),
    st.floats(0, 20),
)
def test_no_patch_serves_two_nodes(features, anchors, threshold):
    out = match_nodes(features, anchors, np.full(len(anchors), threshold, np.float32))
    used = out[out >= 0]
    assert len(used) == len(set(used.tolist()))
    assert all(np.linalg.norm(features[p] - anchors[n]) <= threshold + 1e-5 for n, p in enumerate(out) if p >= 0)


def test_match_class_uses_only_candidates_of_that_class():
    features = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
    centres = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    image = ImagePatches(features, centres, candidates=np.array([[False, True], [True, True]]))
    nodes = [NodeConcept("c/a", np.array([0.0, 0.0], np.float32), 0.5)]
    x0, p0, q0 = match_class([image], 0, nodes)  # class 0 may not use patch 0
    x1, p1, q1 = match_class([image], 1, nodes)
    assert p0.tolist() == [[False]] and x0.abs().sum() == 0
    assert p1.tolist() == [[True]] and q1[0, 0].tolist() == [0.25, 0.5]
    x, present, _pos = assemble([(x0, p0, q0), (x1, p1, q1)])
    assert x.shape == (1, 2, 2) and present.tolist() == [[False, True]]


def test_pooling_from_label_layers_equals_mask_pooling():
    import torch
    import torchvision

    from hni_engine.discovery.analysis import _pool_by_labels, decode_masks, encode_masks
    from hni_engine.discovery.features import PoolFeatures

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 5, (8, 8))
    fine = rng.integers(0, 9, (16, 16))
    labels = [np.kron(coarse, np.ones((4, 4), int)), np.kron(fine, np.ones((2, 2), int))]  # two resolutions
    masks = np.concatenate([np.stack([lab == v for v in np.unique(lab)]) for lab in labels])
    layers = encode_masks(masks)
    assert (decode_masks(layers, len(masks)) == masks).all()
    fmap = torch.randn(6, 4, 4)
    model = torchvision.models.resnet18(weights=None, num_classes=2)
    pool = PoolFeatures(model, "layer4", 32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert torch.allclose(_pool_by_labels(fmap, layers, len(masks)), pool.pool_map(fmap, masks), atol=1e-5)
    assert _pool_by_labels(torch.randn(6, 3, 3), layers, len(masks)) is None  # 32 px do not tile into 3 cells

"""The GRN layer and model: equivalence with GraphConv and with the dense reference, isolation of absent
nodes and of images, training (quick, deterministic), checkpoints and edge weights."""

from __future__ import annotations

import io

import pytest
import torch
from torch_geometric.nn import GraphConv

from hni_engine.graphs.grn import (
    DUMMY_FEATURE,
    GRN,
    ClassGraph,
    DenseGRN,
    ISCGBatch,
    SCGConv,
    fidelity,
    predict,
    train_grn,
)
from hni_engine.graphs.grn.training import _mask_one_concept

D = 6
GRAPHS = (
    ClassGraph.complete("fire_engine", 4),
    ClassGraph("ambulance", 3, ((0, 1), (2, 1), (1, 0))),
    ClassGraph("school_bus", 2, ()),  # all edges dropped (an edge edit)
)
T = sum(g.n_nodes for g in GRAPHS)


def random_batch(n: int, seed: int = 0, p_present: float = 0.7) -> ISCGBatch:
    g = torch.Generator().manual_seed(seed)
    return ISCGBatch(
        torch.randn(n, T, D, generator=g), torch.rand(n, T, generator=g) < p_present, torch.rand(n, T, 2, generator=g)
    )


def random_model(cls=GRN, seed: int = 0, **kwargs) -> GRN:
    torch.manual_seed(seed)
    model = cls(GRAPHS, D, **kwargs)
    with torch.no_grad():  # e away from its initial 1, so that it matters
        model.edge_scale.uniform_(-1.5, 1.5)
    return model


def synthetic(n: int, seed: int) -> tuple[ISCGBatch, torch.Tensor, torch.Tensor]:
    """Label = the class whose concepts are (mostly) present; the teacher's logits count present concepts."""
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(T, D, generator=g)  # one concept per slot
    labels = torch.randint(0, len(GRAPHS), (n,), generator=g)
    class_of_slot = torch.cat([torch.full((graph.n_nodes,), c) for c, graph in enumerate(GRAPHS)])  # (T,)
    own = class_of_slot.unsqueeze(0) == labels.unsqueeze(1)  # (n, T): the slot belongs to the label's graph
    present = torch.rand(n, T, generator=g) < torch.where(own, 0.9, 0.15)
    x = anchors + 0.1 * torch.randn(n, T, D, generator=g)
    counts = torch.stack([present[:, class_of_slot == c].float().mean(1) for c in range(len(GRAPHS))], 1)
    teacher = 4 * counts + 0.1 * torch.randn(n, len(GRAPHS), generator=g)
    return ISCGBatch(x, present, torch.rand(n, T, 2, generator=g)), labels, teacher


# ------------------------------------------------------------------------------------------------ the layer


def test_scgconv_is_graphconv_without_edge_features():
    """The special case where eq. 3 is GraphConv: no edge features (edge_in_channels=0), so the message is
    W3 (e W2 f_j); with W3 = I and e = 1 the layer computes W1 f_i + b + W2 sum_j f_j, which is GraphConv
    with lin_root = W1 and lin_rel = (W2, b). The weights are copied from a GraphConv."""
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 4, 0], [1, 2, 1, 1, 0, 3, 4]])
    reference = GraphConv(3, 7)
    conv = SCGConv(3, 7, edge_in_channels=0, edge_out_channels=0)
    with torch.no_grad():
        conv.lin_root.weight.copy_(reference.lin_root.weight)
        conv.lin_root.bias.copy_(reference.lin_rel.bias)
        conv.lin_nbr.weight.copy_(reference.lin_rel.weight)
        conv.lin_msg.weight.copy_(torch.eye(7))
    out, edge_out = conv(x, edge_index)
    assert edge_out is None
    assert torch.allclose(out, reference(x, edge_index), atol=1e-6)

    # Class-specific e per edge type = GraphConv's edge weights.
    edge_type = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    conv_typed = SCGConv(3, 7, 0, 0, num_edge_types=3)
    conv_typed.load_state_dict({**conv.state_dict(), "edge_scale": torch.tensor([0.5, -2.0, 3.0])})
    out, _ = conv_typed(x, edge_index, edge_type=edge_type)
    weights = torch.tensor([0.5, -2.0, 3.0])[edge_type]
    assert torch.allclose(out, reference(x, edge_index, edge_weight=weights), atol=1e-6)


def test_scgconv_hand_set_weights():
    """Two nodes, one edge 0 -> 1 with features [x0, y0, x1, y1]; every weight set by hand."""
    conv = SCGConv(2, 2, edge_in_channels=4, edge_out_channels=1, num_edge_types=1)
    with torch.no_grad():
        conv.lin_root.weight.copy_(torch.eye(2))
        conv.lin_root.bias.zero_()
        conv.lin_nbr.weight.copy_(2 * torch.eye(2))
        conv.lin_msg.weight.copy_(torch.tensor([[1.0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1]]))
        conv.lin_edge.weight.copy_(torch.tensor([[1.0, 1, 1, 1]]))
        conv.lin_edge.bias.fill_(0.5)
        conv.edge_scale.fill_(3.0)
    x = torch.tensor([[1.0, 2.0], [10.0, 20.0]])
    edge_attr = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    out, edge_out = conv(x, torch.tensor([[0], [1]]), edge_attr)
    # node 1: f_1 + W3 3 [2 f_0 || edge] = [10, 20] + [6 + 0.3, 12 + 1.2]: the weight scales the edge's
    # features too (e = 0 removes the edge); node 0 has no in-edges.
    assert torch.allclose(out, torch.tensor([[1.0, 2.0], [16.3, 33.2]]))
    assert torch.allclose(edge_out, torch.tensor([[1.5]]))


def test_scgconv_rejects_missing_edge_features():
    conv = SCGConv(2, 2, 4, 3)
    with pytest.raises(ValueError, match="edge_attr"):
        conv(torch.randn(2, 2), torch.tensor([[0], [1]]))


# ------------------------------------------------------------------------------------------------ the model


def test_dense_reference_matches_message_passing():
    model = random_model(GRN)
    dense = DenseGRN(GRAPHS, D)
    dense.load_state_dict(model.state_dict())
    batch = random_batch(7)
    assert not batch.present.all() and batch.present.any()
    out, out_dense = model(batch), dense(batch)
    assert out.shape == (7, len(GRAPHS))
    assert torch.allclose(out, out_dense, atol=1e-5)
    # The same gradients too, e included: both train the same model.
    out.square().sum().backward()
    out_dense.square().sum().backward()
    assert torch.allclose(model.edge_scale.grad, dense.edge_scale.grad, atol=1e-4)
    assert torch.allclose(model.convs[0].lin_nbr.weight.grad, dense.convs[0].lin_nbr.weight.grad, atol=1e-4)


def test_graphs_without_any_edge():
    """Every edge dropped (the pose-bias edit): the readout sees node features only."""
    graphs = [ClassGraph("a", 3), ClassGraph("b", 2)]
    torch.manual_seed(0)
    model, dense = GRN(graphs, D), DenseGRN(graphs, D)
    dense.load_state_dict(model.state_dict())
    batch = ISCGBatch(torch.randn(4, 5, D), torch.rand(4, 5) < 0.7, torch.rand(4, 5, 2))
    assert model.n_edges == 0 and model.edge_weights() == {"a": [], "b": []}
    assert torch.allclose(model(batch), dense(batch), atol=1e-6)
    assert model.mlp[0].in_features == 5 * 32


def test_absent_nodes_are_dummies():
    model = random_model()
    batch = random_batch(4)
    x, edge_attr = model.inputs(batch)
    absent = ~batch.present
    assert torch.all(x[absent] == DUMMY_FEATURE)
    # Edge j -> i carries [pos_j, pos_i], zeros for an absent endpoint.
    pos = batch.pos * batch.present.unsqueeze(-1)
    assert torch.equal(edge_attr, torch.cat([pos[:, model.src], pos[:, model.dst]], -1))
    changed = ISCGBatch(
        torch.where(absent.unsqueeze(-1), 100.0, batch.x),
        batch.present,
        torch.where(absent.unsqueeze(-1), 0.5, batch.pos),
    )
    assert torch.equal(model(batch), model(changed))


def test_images_never_interact():
    model = random_model(dropout=0.0)
    batch = random_batch(3)
    changed = ISCGBatch(batch.x.clone(), batch.present.clone(), batch.pos.clone())
    changed.x[0] += 5.0
    changed.present[0] = ~changed.present[0]
    changed.pos[0] = 1 - changed.pos[0]
    for mode in (True, False):
        model.train(mode)
        out, out_changed = model(batch), model(changed)
        assert not torch.allclose(out[0], out_changed[0])
        assert torch.allclose(out[1:], out_changed[1:], atol=1e-6)


def test_batch_shape_is_checked():
    with pytest.raises(ValueError, match=r"expects \(9, 6\)"):
        random_model()(ISCGBatch(torch.randn(2, T, D + 1), torch.ones(2, T, dtype=torch.bool), torch.rand(2, T, 2)))
    with pytest.raises(ValueError, match="present"):
        ISCGBatch(torch.randn(2, T, D), torch.ones(2, T), torch.rand(2, T, 2))
    with pytest.raises(ValueError, match="bad edge"):
        ClassGraph("x", 2, ((0, 2),))
    with pytest.raises(ValueError, match="duplicate"):
        ClassGraph("x", 2, ((0, 1), (0, 1)))


def test_iscg_batch_indexing():
    batch = random_batch(5)
    assert len(batch[2]) == 1 and torch.equal(batch[-1].x, batch.x[4:])
    assert len(batch[1:4]) == 3
    assert torch.equal(batch[torch.tensor([4, 0])].pos, batch.pos[[4, 0]])
    both = ISCGBatch.cat([batch[:2], batch[2:]])
    assert torch.equal(both.x, batch.x) and torch.equal(both.present, batch.present)


def test_edge_weights_reflect_e():
    model = GRN(GRAPHS, D)
    assert all(e == 1.0 for edges in model.edge_weights().values() for _, _, e in edges)
    with torch.no_grad():
        model.edge_scale.copy_(torch.arange(model.n_edges, dtype=torch.float))
    weights = model.edge_weights()
    assert list(weights) == ["fire_engine", "ambulance", "school_bus"]
    assert weights["ambulance"] == [(0, 1, 12.0), (2, 1, 13.0), (1, 0, 14.0)]
    assert weights["fire_engine"][0] == (0, 1, 0.0) and weights["school_bus"] == []
    assert all(conv.edge_scale is model.edge_scale for conv in model.convs)  # one e, shared by the layers


def test_state_round_trip():
    model = random_model(dropout=0.1)
    buffer = io.BytesIO()
    torch.save(model.state(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    batch = random_batch(3)
    for cls in (GRN, DenseGRN):
        loaded = cls.from_state(state).eval()
        assert loaded.graphs == model.graphs and loaded.dropout == 0.1
        assert torch.allclose(loaded(batch), model.eval()(batch), atol=1e-5)
    with pytest.raises(ValueError, match="not a GRN checkpoint"):
        GRN.from_state({"format": "something else"})


# ------------------------------------------------------------------------------------------------ training


def test_mask_one_concept_drops_exactly_one_present_node():
    present = torch.tensor([[True, True, False], [False, False, False], [False, True, False]])
    masked = _mask_one_concept(present, torch.Generator().manual_seed(0))
    assert masked.sum(1).tolist() == [1, 0, 0]
    assert not (masked & ~present).any()


def test_train_labels_reaches_high_accuracy():
    batch, labels, _ = synthetic(240, seed=1)
    torch.manual_seed(0)
    model = GRN(GRAPHS, D)
    seen = []
    report = train_grn(model, batch, labels, mode="labels", epochs=12, progress=lambda e, n, m: seen.append((e, m)))
    assert report.n_train == 192 and report.n_val == 48
    assert len(report.train_loss) == len(report.val_accuracy) == 12 and [e for e, _ in seen] == list(range(1, 13))
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(seen[0][1])
    assert report.best_val_accuracy >= 0.9
    assert report.train_loss[-1] < report.train_loss[0]
    assert not model.training
    assert "labels" in repr(report) and "best epoch" in repr(report)


def test_train_mimic_fidelity():
    batch, _, teacher = synthetic(240, seed=2)
    torch.manual_seed(0)
    model = GRN(GRAPHS, D)
    report = train_grn(model, batch, teacher, mode="mimic", epochs=12, lr_step=5)
    assert report.best_val_accuracy >= 0.85
    assert "fidelity" in repr(report)
    assert 0.85 <= fidelity(model, batch, teacher) <= 1.0
    assert predict(model, batch[:5]).shape == (5, 3)


def test_training_is_deterministic():
    batch, labels, _ = synthetic(64, seed=3)

    def run(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model = GRN(GRAPHS, D, dropout=0.2)
        train_grn(model, batch, labels, mode="labels", epochs=2, seed=seed)
        return model.state_dict()

    first, second, other = run(0), run(0), run(1)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_training_leaves_the_global_rng_alone():
    batch, labels, _ = synthetic(32, seed=4)
    model = GRN(GRAPHS, D, dropout=0.2)
    state = torch.random.get_rng_state()
    train_grn(model, batch, labels, mode="labels", epochs=1)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_train_rejects_bad_targets():
    batch, labels, _ = synthetic(16, seed=5)
    with pytest.raises(ValueError, match=r"mimic targets must have shape \(16, 3\)"):
        train_grn(GRN(GRAPHS, D), batch, labels, mode="mimic", epochs=1)
    with pytest.raises(ValueError, match="mode must be"):
        train_grn(GRN(GRAPHS, D), batch, labels, mode="soft", epochs=1)


def test_predict_restores_mode_and_batches():
    model = random_model(dropout=0.5).train()
    batch = random_batch(10)
    out = predict(model, batch, batch_size=3)
    assert model.training
    model.eval()
    assert torch.allclose(out, model(batch), atol=1e-6)


def test_groups_stay_on_one_side_of_the_validation_split():
    batch, _, teacher = synthetic(60, seed=6)
    groups = torch.arange(60) // 3  # 20 sources, three images each
    report = train_grn(GRN(GRAPHS, D), batch, teacher, mode="mimic", epochs=1, groups=groups)
    assert report.n_val == 12 and report.n_train == 48  # 4 of the 20 groups, whole
    from hni_engine.graphs.grn.training import _group_split

    val, train = _group_split(groups, 0.2, torch.Generator().manual_seed(0))
    assert set(groups[val].tolist()).isdisjoint(groups[train].tolist())
    assert sorted(val.tolist() + train.tolist()) == list(range(60))
    with pytest.raises(ValueError, match=r"groups must have shape \(60,\)"):
        train_grn(GRN(GRAPHS, D), batch, teacher, mode="mimic", epochs=1, groups=groups[:10])

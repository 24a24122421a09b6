"""Node and edge contributions (VRX eq. 5-6): exact sums, each class's own gradient, nothing left behind."""

from __future__ import annotations

import pytest
import torch

from hni_engine.graphs.grn import GRN, ClassGraph, DenseGRN, ISCGBatch
from hni_engine.present.contributions import contributions

D = 5
GRAPHS = (
    ClassGraph.complete("fire_engine", 3),
    ClassGraph("ambulance", 4, ((0, 1), (1, 2), (3, 0))),
    ClassGraph("school_bus", 2, ((1, 0),)),
)
T = sum(g.n_nodes for g in GRAPHS)


@pytest.fixture
def model() -> GRN:
    torch.manual_seed(0)
    grn = GRN(GRAPHS, D, dropout=0.3)
    with torch.no_grad():
        grn.edge_scale.uniform_(-1.0, 1.0)
    return grn


@pytest.fixture
def image() -> ISCGBatch:
    g = torch.Generator().manual_seed(1)
    present = torch.ones(1, T, dtype=torch.bool)
    present[0, [1, 5]] = False
    return ISCGBatch(torch.randn(1, T, D, generator=g), present, torch.rand(1, T, 2, generator=g))


def zero_mlp_biases(grn: GRN) -> None:
    with torch.no_grad():
        for layer in grn.mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.bias.zero_()


def autograd_scores(grn: GRN, image: ISCGBatch, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """eq. 5-6 written out directly: backpropagate the full forward pass into the embeddings."""
    grn.eval()
    nodes, edges = grn.embed(image)
    nodes.retain_grad()
    edges.retain_grad()
    grn.readout(nodes, edges)[0, target].backward()
    grn.zero_grad(set_to_none=True)
    return (nodes.grad * nodes)[0].sum(-1).detach(), (edges.grad * edges)[0].sum(-1).detach()


def test_scores_sum_to_the_logit_without_mlp_biases(model, image):
    """With bias-free Linear/ReLU layers the readout is positively homogeneous: sum of grad * input = logit."""
    zero_mlp_biases(model)
    with torch.no_grad():
        logits = model.eval()(image)[0]
    for target in range(model.n_classes):
        result = contributions(model, image, target)
        assert result.logit == pytest.approx(float(logits[target]), abs=1e-5)
        assert result.total == pytest.approx(result.logit, rel=1e-4, abs=1e-5)


def test_why_not_uses_the_other_class_own_score(model, image):
    why = contributions(model, image, 0)
    why_not = contributions(model, image, 2)
    assert why.target_name == "fire_engine" and why_not.target_name == "school_bus"
    for result, target in ((why, 0), (why_not, 2)):
        nodes, edges = autograd_scores(model, image, target)
        assert torch.allclose(torch.cat([g.nodes for g in result.graphs]), nodes, atol=1e-6)
        assert torch.allclose(torch.cat([g.edges for g in result.graphs]), edges, atol=1e-6)
    assert not torch.allclose(why["ambulance"].nodes, why_not["ambulance"].nodes)


def test_shapes_and_readout_slicing(model, image):
    """Cutting one class graph out of the readout (its input columns of the first MLP layer set to zero)
    makes exactly its scores zero: the per-graph slices match the readout order."""
    t0, t1 = model.node_spans[1]
    m0, m1 = model.edge_spans[1]
    fn, fe = model.node_dims[-1], model.edge_dims[-1]
    columns = torch.cat([torch.arange(t0 * fn, t1 * fn), model.n_slots * fn + torch.arange(m0 * fe, m1 * fe)])
    first = model.mlp[0]
    with torch.no_grad():  # readout_index maps MLP inputs to positions in [nodes || edges]
        first.weight[:, torch.isin(model.readout_index, columns)] = 0.0
    result = contributions(model, image, 1)
    assert [g.nodes.shape[0] for g in result.graphs] == [3, 4, 2]
    assert [g.edges.shape[0] for g in result.graphs] == [6, 3, 1]
    assert torch.all(result["ambulance"].nodes == 0) and torch.all(result["ambulance"].edges == 0)
    assert result["fire_engine"].nodes.abs().sum() > 0
    assert result["ambulance"].present.tolist() == [True, True, False, True]
    assert result["ambulance"].edge_list == ((0, 1), (1, 2), (3, 0))


def test_dense_reference_explains_the_same(model, image):
    dense = DenseGRN(GRAPHS, D)
    dense.load_state_dict(model.state_dict())
    a, b = contributions(model, image, 1), contributions(dense, image, 1)
    for ga, gb in zip(a.graphs, b.graphs):
        assert torch.allclose(ga.nodes, gb.nodes, atol=1e-5) and torch.allclose(ga.edges, gb.edges, atol=1e-5)


def test_nothing_leaks(model, image):
    model.train()  # dropout 0.3: the explanation must still be computed in eval mode
    first = contributions(model, image, 1)
    second = contributions(model, image, 1)
    assert torch.equal(first["fire_engine"].nodes, second["fire_engine"].nodes)
    assert model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not first["fire_engine"].nodes.requires_grad


def test_explanation_api(model, image):
    result = contributions(model, image, 0)
    assert "fire_engine" in repr(result) and "absent" in repr(result["fire_engine"])
    top = result.top_edges(2)
    assert len(top) == 2 and abs(top[0][3]) >= abs(top[1][3])
    with pytest.raises(KeyError, match="no class graph"):
        result["truck"]
    with pytest.raises(ValueError, match="one image"):
        contributions(model, ISCGBatch.cat([image, image]), 0)
    with pytest.raises(ValueError, match="target_class"):
        contributions(model, image, 3)

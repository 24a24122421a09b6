"""Why class X, why not class Y: node and edge contribution scores from a trained GRN (VRX 3.3, eq. 5-6).

For a chosen class c with GRN score y^c, the contribution of each node and each edge of every class graph
is the gradient of y^c with respect to that node's (edge's) final embedding, the vector that enters the
readout, times the embedding, summed over the feature dimension:

    s = sum_f (d y^c / d g_f) * g_f

A positive score supports class c, a negative one speaks against it. "Why not Y" is answered with Y's
*own* score y^Y (the official VRX code reused the true class's gradient for every class, which explains
the true class again instead). When the readout MLP has no biases the scores of all nodes and edges sum
exactly to y^c (the MLP is then positively homogeneous); in general they are a first-order attribution.

The model is evaluated in eval mode (restored afterwards); only the embeddings are differentiated, so no
parameter gradient is touched and nothing is left attached to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hni_engine.graphs.grn import GRN, ISCGBatch

__all__ = ["Contributions", "GraphContribution", "contributions"]


@dataclass(frozen=True)
class GraphContribution:
    """Scores of one class graph's nodes (n_nodes,) and edges (n_edges,), in slot and edge order."""

    name: str
    nodes: Tensor
    edges: Tensor
    edge_list: tuple[tuple[int, int], ...]
    present: Tensor  # (n_nodes,) bool: which nodes were matched in the image

    @property
    def total(self) -> float:
        return float(self.nodes.sum() + self.edges.sum())

    def __repr__(self) -> str:
        nodes = ", ".join(
            f"{v:+.3f}" + ("" if p else " (absent)") for v, p in zip(self.nodes.tolist(), self.present.tolist())
        )
        return (
            f"GraphContribution({self.name!r}, total={self.total:+.3f}, nodes=[{nodes}], edges={len(self.edge_list)})"
        )


@dataclass(frozen=True)
class Contributions:
    """Contributions of every class graph of one image to the score of `target_name`."""

    target_class: int
    target_name: str
    logit: float
    graphs: tuple[GraphContribution, ...]

    def __getitem__(self, name: str) -> GraphContribution:
        for g in self.graphs:
            if g.name == name:
                return g
        raise KeyError(f"no class graph named {name!r} (have {[g.name for g in self.graphs]})")

    @property
    def total(self) -> float:
        """Sum of all node and edge scores (equals `logit` when the readout MLP has no biases)."""
        return sum(g.total for g in self.graphs)

    def top_edges(self, k: int = 3) -> list[tuple[str, int, int, float]]:
        """The k edges with the largest |score|: (class graph, src, dst, score)."""
        rows = [(g.name, s, d, float(v)) for g in self.graphs for (s, d), v in zip(g.edge_list, g.edges)]
        return sorted(rows, key=lambda r: -abs(r[3]))[:k]

    def __repr__(self) -> str:
        parts = ", ".join(f"{g.name}: {g.total:+.3f}" for g in self.graphs)
        return f"Contributions(class {self.target_name!r}, logit={self.logit:+.3f}, per graph {{{parts}}})"


def contributions(model: GRN, batch_one_image: ISCGBatch, target_class: int) -> Contributions:
    """Node and edge contributions of one image's class graphs to the GRN score of `target_class` (eq. 5-6).

    Call it with the predicted class to answer "why X", with any other class Y for "why not Y" (Y's own
    score is differentiated). Works in eval mode; the model's mode is restored.
    """
    if len(batch_one_image) != 1:
        raise ValueError(f"contributions explain one image at a time (got a batch of {len(batch_one_image)})")
    if not 0 <= target_class < model.n_classes:
        raise ValueError(f"target_class must be in [0, {model.n_classes}) (got {target_class})")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        batch = batch_one_image.to(device)
        with torch.no_grad():
            nodes, edges = model.embed(batch)  # (1, T, F), (1, M, F_e)
        with torch.enable_grad():
            nodes, edges = nodes.requires_grad_(True), edges.requires_grad_(True)
            logit = model.readout(nodes, edges)[0, target_class]
            grad_nodes, grad_edges = torch.autograd.grad(logit, (nodes, edges))
    finally:
        model.train(was_training)
    node_scores = (grad_nodes * nodes.detach())[0].sum(-1).cpu()  # (T,)
    edge_scores = (grad_edges * edges.detach())[0].sum(-1).cpu()  # (M,)
    present = batch_one_image.present[0].cpu()
    graphs = tuple(
        GraphContribution(g.name, node_scores[t0:t1], edge_scores[m0:m1], g.edges, present[t0:t1])
        for g, (t0, t1), (m0, m1) in zip(model.graphs, model.node_spans, model.edge_spans)
    )
    return Contributions(target_class, model.graphs[target_class].name, float(logit.detach()), graphs)

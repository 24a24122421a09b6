"""The GRN model: `GRN` (message passing over one flat graph per batch), its dense reference `DenseGRN`,
and their checkpoints (`GRN.state`, `GRN.from_state`).

Class-specific edge weights. Each (class graph, edge) pair has one trainable scalar e^c_ji, initialised
to 1 and shared by the five layers, as in the official VRX code and the paper's single e matrix per class
(VRX Fig. 5): |e_ji| is then one well-defined score per edge for edge selection (`GRN.edge_weights`).
It gates everything the edge contributes (its message, and its features in the readout), so e = 0 removes
the edge and the weight measures how much the GRN uses it; an L1 prior (`edge_l1` in training) lets the
edges the class score does not need go to 0 instead of staying at their initial 1.

Normalisation. Each layer is followed by ReLU and LayerNorm over each node's (and each edge's) own
feature vector. Table 5 lists BatchNorm; the official code applied it over the nodes of a single graph
(batch size 1), which couples the nodes of one image, mixes images once batched, and behaves differently
in train and eval mode. LayerNorm has none of these problems and works with any batch size.

`DenseGRN` is the same model computed with dense per-class adjacency matrices (einsum); it shares the
parameter layout, so `DenseGRN.load_state_dict(grn.state_dict())` gives the same outputs. It is the
reference for the tests and the P4 benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hni_engine import formats
from hni_engine.graphs.grn.batch import DUMMY_FEATURE, EDGE_FEATURES, ClassGraph, ISCGBatch
from hni_engine.graphs.grn.layer import SCGConv

__all__ = ["GRN", "GRN_FORMAT", "DenseGRN"]

GRN_FORMAT = formats.GRN


class GRN(nn.Module):
    """The Graph Reasoning Network over the class graphs of interest (torch-geometric message passing).

    Args:
        graphs: the c-SCG of every class of interest, in output order.
        in_dim: node (patch) feature size D.
        node_dims, edge_dims: output sizes of the five layers (HNI Table 5: 64,32,32,32,32 and 5 x 5).
        mlp_dims: hidden sizes of the readout MLP (Table 5: 128, 64, 32), followed by n_classes outputs.
        dropout: dropout between the MLP's hidden layers (0: none, as in Table 5).
        dummy: the constant feature of absent nodes.

    `edge_scale` (the e^c_ji, one per class graph edge) is tied into every layer, so the state dict lists
    the same tensor under `edge_scale` and `convs.<k>.edge_scale`.
    """

    src: Tensor  # buffers (see __init__)
    dst: Tensor
    readout_index: Tensor

    def __init__(
        self,
        graphs: Sequence[ClassGraph],
        in_dim: int,
        node_dims: Sequence[int] = (64, 32, 32, 32, 32),
        edge_dims: Sequence[int] = (5, 5, 5, 5, 5),
        mlp_dims: Sequence[int] = (128, 64, 32),
        dropout: float = 0.0,
        dummy: float = DUMMY_FEATURE,
    ):
        super().__init__()
        if not graphs:
            raise ValueError("GRN: needs at least one class graph (got none)")
        if len({g.name for g in graphs}) != len(graphs):
            raise ValueError(f"GRN: class graph names must be unique (got {[g.name for g in graphs]})")
        if len(node_dims) != len(edge_dims) or not node_dims or min(*node_dims, *edge_dims) < 1:
            raise ValueError(
                f"GRN: node_dims and edge_dims must be equally long and positive "
                f"(got {tuple(node_dims)} and {tuple(edge_dims)})"
            )
        self.graphs = tuple(graphs)
        self.in_dim, self.dummy, self.dropout = in_dim, float(dummy), float(dropout)
        self.node_dims, self.edge_dims, self.mlp_dims = tuple(node_dims), tuple(edge_dims), tuple(mlp_dims)

        # The structure of one image's graphs: slot and edge spans per class, global (src, dst) slots.
        node_spans, edge_spans, src, dst = [], [], [], []
        t = m = 0
        for g in self.graphs:
            node_spans.append((t, t + g.n_nodes))
            edge_spans.append((m, m + len(g.edges)))
            src += [t + s for s, _ in g.edges]
            dst += [t + d for _, d in g.edges]
            t, m = t + g.n_nodes, m + len(g.edges)
        self.n_slots, self.n_edges = t, m
        self.node_spans, self.edge_spans = tuple(node_spans), tuple(edge_spans)
        # Buffers, not state: they follow from `graphs` and move with .to(device).
        self.register_buffer("src", torch.tensor(src, dtype=torch.long), persistent=False)  # (M,)
        self.register_buffer("dst", torch.tensor(dst, dtype=torch.long), persistent=False)  # (M,)
        self.register_buffer("readout_index", self._readout_index(), persistent=False)

        self.edge_scale = nn.Parameter(torch.ones(m))  # e^c_ji, one per (class graph, edge)
        dims, edims = (in_dim, *self.node_dims), (EDGE_FEATURES, *self.edge_dims)
        self.convs = nn.ModuleList(
            SCGConv(dims[k], dims[k + 1], edims[k], edims[k + 1], m, self.edge_scale)
            for k in range(len(self.node_dims))
        )
        self.node_norms = nn.ModuleList(nn.LayerNorm(d) for d in self.node_dims)
        self.edge_norms = nn.ModuleList(nn.LayerNorm(d) for d in self.edge_dims)
        layers: list[nn.Module] = []
        width = t * self.node_dims[-1] + m * self.edge_dims[-1]
        for hidden in self.mlp_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, len(self.graphs)))
        self.mlp = nn.Sequential(*layers)

    @property
    def n_classes(self) -> int:
        return len(self.graphs)

    @property
    def class_names(self) -> list[str]:
        return [g.name for g in self.graphs]

    def _readout_index(self) -> Tensor:
        """Positions in [all node features || all edge features] giving, per class graph, its nodes then
        its edges (VRX: the embedding network concatenates the class graphs' embeddings)."""
        fn, fe = self.node_dims[-1], self.edge_dims[-1]
        parts = []
        for (t0, t1), (m0, m1) in zip(self.node_spans, self.edge_spans):
            parts.append(torch.arange(t0 * fn, t1 * fn))
            parts.append(self.n_slots * fn + torch.arange(m0 * fe, m1 * fe))
        return torch.cat(parts)

    def inputs(self, batch: ISCGBatch) -> tuple[Tensor, Tensor]:
        """Node features with dummies substituted (N, T, D) and edge features [x_j, y_j, x_i, y_i] (N, M, 4)."""
        if batch.x.shape[1:] != (self.n_slots, self.in_dim):
            raise ValueError(
                f"batch has {tuple(batch.x.shape[1:])} (slots, features) per image; this GRN "
                f"expects ({self.n_slots}, {self.in_dim})"
            )
        present = batch.present.unsqueeze(-1)  # (N, T, 1)
        x = batch.x.masked_fill(~present, self.dummy)
        pos = batch.pos * present  # absent endpoints contribute zeros
        return x, torch.cat([pos[:, self.src], pos[:, self.dst]], dim=-1)

    def embed(self, batch: ISCGBatch) -> tuple[Tensor, Tensor]:
        """The final graph embeddings: node features (N, T, F) and edge features (N, M, F_e)."""
        x, edge_attr = self.inputs(batch)
        n = x.shape[0]
        # One disjoint graph for the whole batch: image k's slots are k*T .. k*T + T - 1.
        offsets = torch.arange(n, device=x.device) * self.n_slots  # (N,)
        edge_index = torch.stack([self.src, self.dst]).unsqueeze(1) + offsets.view(1, n, 1)  # (2, N, M)
        edge_index = edge_index.reshape(2, n * self.n_edges)
        edge_type = torch.arange(self.n_edges, device=x.device).repeat(n)  # (N*M,)
        h, e = x.reshape(n * self.n_slots, -1), edge_attr.reshape(n * self.n_edges, EDGE_FEATURES)
        for conv, node_norm, edge_norm in zip(self.convs, self.node_norms, self.edge_norms):
            h, e = conv(h, edge_index, e, edge_type)
            h, e = node_norm(F.relu(h)), edge_norm(F.relu(e))
        return h.view(n, self.n_slots, self.node_dims[-1]), e.view(n, self.n_edges, self.edge_dims[-1])

    def readout(self, nodes: Tensor, edges: Tensor) -> Tensor:
        """Class scores (N, n_classes) from the final node (N, T, F) and edge (N, M, F_e) features; each
        edge's features enter scaled by its e_ji."""
        edges = edges * self.edge_scale.view(1, -1, 1)
        flat = torch.cat([nodes.flatten(1), edges.flatten(1)], dim=1)  # (N, T*F + M*F_e)
        return cast(Tensor, self.mlp(flat.index_select(1, self.readout_index)))

    def forward(self, batch: ISCGBatch) -> Tensor:
        return self.readout(*self.embed(batch))

    def edge_weights(self) -> dict[str, list[tuple[int, int, float]]]:
        """Each class's learnt e_ji per edge: {class: [(src, dst, e), ...]} in the graph's edge order."""
        values = self.edge_scale.detach().cpu().tolist()
        return {
            g.name: [(s, d, values[m0 + k]) for k, (s, d) in enumerate(g.edges)]
            for g, (m0, _) in zip(self.graphs, self.edge_spans)
        }

    def state(self) -> dict[str, Any]:
        """A checkpoint: the constructor arguments and the weights, loadable with weights_only=True."""
        return {
            "format": GRN_FORMAT,
            "graphs": [
                {"name": g.name, "n_nodes": g.n_nodes, "edges": [list(e) for e in g.edges]} for g in self.graphs
            ],
            "in_dim": self.in_dim,
            "node_dims": list(self.node_dims),
            "edge_dims": list(self.edge_dims),
            "mlp_dims": list(self.mlp_dims),
            "dropout": self.dropout,
            "dummy": self.dummy,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GRN:
        if state.get("format") != GRN_FORMAT:
            found = state.get("format")
            older = " (an older hni's: run `hni extract` again)" if str(found).startswith("hni-grn/") else ""
            raise ValueError(f"not a GRN checkpoint of this hni (format {GRN_FORMAT!r} expected, got {found!r}){older}")
        graphs = [ClassGraph(g["name"], g["n_nodes"], tuple(tuple(e) for e in g["edges"])) for g in state["graphs"]]
        model = cls(
            graphs,
            state["in_dim"],
            state["node_dims"],
            state["edge_dims"],
            state["mlp_dims"],
            state["dropout"],
            state["dummy"],
        )
        model.load_state_dict(state["state_dict"])
        return model


class DenseGRN(GRN):
    """The same model as `GRN` with dense batched tensors instead of message passing (the reference).

    Each class graph is padded to K = the largest node count; its edges become a (K, K) adjacency of
    e_ji values (A[c, i, j] = e for edge j -> i, 0 where there is no edge) and its edge features a dense
    (K, K) grid masked to the existing edges. The split W3 = [W3a | W3b] gives
    sum_j W3 e_ji [W2 f_j || edge_ji] = W3a (A W2 f)_i + W3b sum_j e_ji edge_ji.
    """

    edge_cell: Tensor  # buffers (see __init__)
    slot_cell: Tensor
    dense_slot: Tensor

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        k = max(g.n_nodes for g in self.graphs)
        self.k = k
        cls_of_slot = torch.cat([torch.full((g.n_nodes,), c) for c, g in enumerate(self.graphs)])  # (T,)
        local = torch.cat([torch.arange(g.n_nodes) for g in self.graphs])  # (T,)
        dense_slot = torch.zeros(len(self.graphs), k, dtype=torch.long)  # padding reads slot 0, never used
        dense_slot[cls_of_slot, local] = torch.arange(self.n_slots)
        cls_of_edge = cls_of_slot[self.src]  # (M,)
        # Flat positions in (C, K_dst, K_src) of each edge, and in (C, K) of each slot.
        self.register_buffer("edge_cell", cls_of_edge * k * k + local[self.dst] * k + local[self.src], persistent=False)
        self.register_buffer("slot_cell", cls_of_slot * k + local, persistent=False)
        self.register_buffer("dense_slot", dense_slot, persistent=False)

    def embed(self, batch: ISCGBatch) -> tuple[Tensor, Tensor]:
        x, edge_attr = self.inputs(batch)
        n, c, k = x.shape[0], len(self.graphs), self.k
        adj = torch.zeros(c * k * k, dtype=x.dtype, device=x.device).index_put((self.edge_cell,), self.edge_scale)
        adj = adj.view(c, k, k)  # (C, K_dst, K_src)
        gate = adj.view(1, c, k, k, 1)  # e_ji on the edges, 0 elsewhere
        h = x[:, self.dense_slot]  # (N, C, K, D)
        e = x.new_zeros(n, c * k * k, EDGE_FEATURES).index_copy(1, self.edge_cell, edge_attr)
        e = e.view(n, c, k, k, EDGE_FEATURES)  # (N, C, K_dst, K_src, 4)
        for layer, node_norm, edge_norm in zip(self.convs, self.node_norms, self.edge_norms):
            conv = cast(SCGConv, layer)
            assert conv.lin_edge is not None  # every GRN layer updates the edge features (edge_dims >= 1)
            w3 = conv.lin_msg.weight
            w3_node, w3_edge = w3[:, : conv.out_channels], w3[:, conv.out_channels :]
            nbr = torch.einsum("cij,ncjf->ncif", adj, conv.lin_nbr(h))  # (N, C, K, F): sum_j e_ji W2 f_j
            edge_sum = (e * gate).sum(dim=3)  # (N, C, K, D_e): sum_j e_ji edge_ji over existing edges
            h_next = conv.lin_root(h) + nbr @ w3_node.T + edge_sum @ w3_edge.T
            h, e = node_norm(F.relu(h_next)), edge_norm(F.relu(conv.lin_edge(e)))
        nodes = h.reshape(n, c * k, self.node_dims[-1])[:, self.slot_cell]  # (N, T, F)
        edges = e.reshape(n, c * k * k, self.edge_dims[-1])[:, self.edge_cell]  # (N, M, F_e)
        return nodes, edges

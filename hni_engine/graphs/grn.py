"""Graph Reasoning Network (VRX eq. 2-4, HNI Table 5): image-level concept graphs in, class scores out.

For every image there is one structural concept graph per class of interest (an I-SCG). Its nodes are
the class's c-SCG concepts, each matched to a patch of the image or absent; its edges are the c-SCG's
directed edges, carrying the positions of their two endpoints. The GRN runs five `SCGConv` layers over
all graphs of an image at once, concatenates the final node and edge features of every class graph and
maps them with an MLP to one score per class of interest.

Data layout. An `ISCGBatch` holds N images densely per *slot*: the T = sum of the class graphs' node
counts are laid out class after class, slot order within a class. The model owns the graph structure
(`ClassGraph`s) and turns a batch into one flat, disconnected torch-geometric graph per step with
vectorised index arithmetic: no per-image loop and no `Data` objects.

Absent nodes. An unmatched node's feature is replaced by the constant `dummy` (default `DUMMY_FEATURE`
= 0.01 in every dimension, the VRX "small constant"), whatever the batch holds there, and its position is
zeroed in the edge features. So changing anything stored at an absent slot cannot change the output.

Class-specific edge weights. Each (class graph, edge) pair has one trainable scalar e^c_ji, initialised
to 1 and shared by the five layers, as in the official VRX code and the paper's single e matrix per class
(VRX Fig. 5): |e_ji| is then one well-defined score per edge for edge selection (`GRN.edge_weights`).

Normalisation. Each layer is followed by ReLU and LayerNorm over each node's (and each edge's) own
feature vector. Table 5 lists BatchNorm; the official code applied it over the nodes of a single graph
(batch size 1), which couples the nodes of one image, mixes images once batched, and behaves differently
in train and eval mode. LayerNorm has none of these problems and works with any batch size.

`DenseGRN` is the same model computed with dense per-class adjacency matrices (einsum); it shares the
parameter layout, so `DenseGRN.load_state_dict(grn.state_dict())` gives the same outputs. It is the
reference for the tests and the P4 benchmark.

Typical use::

    graphs = [ClassGraph.complete(name, 4) for name in classes]          # c-SCGs, slot order fixed
    grn = GRN(graphs, in_dim=512)
    report = train_grn(grn, iscgs, original_logits, mode="mimic")       # iscgs: ISCGBatch of N images
    grn.edge_weights()                                                  # {class: [(src, dst, e_ji)]}
    torch.save(grn.state(), path); GRN.from_state(torch.load(path, weights_only=True))
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

__all__ = [
    "DUMMY_FEATURE", "EDGE_FEATURES", "ClassGraph", "ISCGBatch", "SCGConv", "GRN", "DenseGRN", "TrainReport",
    "train_grn", "predict", "fidelity", "GRN_FORMAT",
]

GRAD_CLIP = 5.0
DUMMY_FEATURE = 0.01
EDGE_FEATURES = 4  # [x_j, y_j, x_i, y_i]
GRN_FORMAT = "hni-grn/1"

Index = Union[int, slice, Sequence[int], Tensor]


@dataclass(frozen=True)
class ClassGraph:
    """One class's c-SCG structure: `n_nodes` concept slots and directed edges (src, dst), 0-based."""

    name: str
    n_nodes: int
    edges: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.n_nodes < 1:
            raise ValueError(f"class graph {self.name!r}: needs at least one node (got {self.n_nodes})")
        edges = tuple((int(s), int(d)) for s, d in self.edges)
        for s, d in edges:
            if not (0 <= s < self.n_nodes and 0 <= d < self.n_nodes) or s == d:
                raise ValueError(f"class graph {self.name!r}: bad edge for {self.n_nodes} nodes (got {(s, d)})")
        if len(set(edges)) != len(edges):
            raise ValueError(f"class graph {self.name!r}: duplicate edges (got {list(edges)})")
        object.__setattr__(self, "edges", edges)

    @classmethod
    def complete(cls, name: str, n_nodes: int) -> "ClassGraph":
        """All directed edges between distinct slots (the initial c-SCG), in (src, dst) order."""
        return cls(name, n_nodes, tuple((s, d) for s in range(n_nodes) for d in range(n_nodes) if s != d))


@dataclass
class ISCGBatch:
    """Image-level SCGs of N images for all classes of interest, dense per slot.

    x: (N, T, D) node features, T = sum of the class graphs' n_nodes in class order; present: (N, T) bool,
    False for a dummy (unmatched) node; pos: (N, T, 2) normalised (x, y) in [0, 1] of the matched patch
    centre, ignored where absent. What is stored at absent slots never reaches the GRN.
    """

    x: Tensor
    present: Tensor
    pos: Tensor

    def __post_init__(self) -> None:
        if self.x.dim() != 3:
            raise ValueError(f"ISCGBatch.x must be (N, T, D) (got shape {tuple(self.x.shape)})")
        n, t, _ = self.x.shape
        if self.present.shape != (n, t) or self.present.dtype != torch.bool:
            raise ValueError(f"ISCGBatch.present must be a bool ({n}, {t}) tensor "
                             f"(got {self.present.dtype} {tuple(self.present.shape)})")
        if self.pos.shape != (n, t, 2):
            raise ValueError(f"ISCGBatch.pos must be ({n}, {t}, 2) (got {tuple(self.pos.shape)})")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: Index) -> "ISCGBatch":
        """Images by int (kept as a batch of one), slice, index list or index/bool tensor."""
        if isinstance(index, int):
            index = [index]
        return ISCGBatch(self.x[index], self.present[index], self.pos[index])

    def to(self, device: Union[str, torch.device]) -> "ISCGBatch":
        return ISCGBatch(self.x.to(device), self.present.to(device), self.pos.to(device))

    @staticmethod
    def cat(batches: Sequence["ISCGBatch"]) -> "ISCGBatch":
        """Images of several batches (same class graphs) in one batch, e.g. real + synthesized graphs."""
        return ISCGBatch(torch.cat([b.x for b in batches]), torch.cat([b.present for b in batches]),
                         torch.cat([b.pos for b in batches]))


class SCGConv(MessagePassing):
    r"""The structural concept graph convolution of VRX (eq. 3), with class-specific edge weights.

    .. math::
        \mathbf{f}^{\prime}_i = \mathbf{W}_1 \mathbf{f}_i + \sum_{j \in \mathcal{N}(i)}
        \mathbf{W}_3 \left[ e_{t(j,i)} \cdot \mathbf{W}_2 \mathbf{f}_j \,\Vert\, \mathbf{edge}_{j,i} \right],
        \qquad \mathbf{edge}^{\prime}_{j,i} = \mathbf{W}_4 \mathbf{edge}_{j,i}

    where :math:`e_t` is a trainable scalar per edge type :math:`t` (in the GRN: one type per class graph
    edge), initialised to 1. Aggregation is a sum. Only :math:`\mathbf{W}_1` and :math:`\mathbf{W}_4` have
    a bias: :math:`\mathbf{W}_2` has none so that :math:`e` scales a linear function of the neighbour, and
    :math:`\mathbf{W}_3` has none because a bias per message would add a degree-dependent offset.
    :math:`\mathbf{W}_2 \mathbf{f}` is computed once per node, not once per edge.

    With ``edge_in_channels=0`` the edge part is disabled and the layer is :class:`GraphConv` with
    :math:`\mathbf{W}_{rel} = \mathbf{W}_3 \mathbf{W}_2` and :math:`e` as edge weights.

    Args:
        in_channels (int): Size of each input node feature.
        out_channels (int): Size of each output node feature.
        edge_in_channels (int): Size of each input edge feature (0: no edge features).
        edge_out_channels (int): Size of each output edge feature (0: edge features are not updated and
            the layer returns ``None`` for them).
        num_edge_types (int, optional): Number of trainable edge weights :math:`e_t`. (default: :obj:`1`)
        edge_scale (torch.nn.Parameter, optional): Use this existing parameter of shape
            :obj:`(num_edge_types,)` as :math:`e` (ties it across layers, as the GRN does) instead of
            creating one. (default: :obj:`None`)

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, edge indices :math:`(2, |\mathcal{E}|)`
          (source, target), edge features :math:`(|\mathcal{E}|, D_{in})` *(optional)*, edge types
          :math:`(|\mathcal{E}|)` *(optional, default all 0)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`, edge features
          :math:`(|\mathcal{E}|, D_{out})` or :obj:`None`
    """

    def __init__(self, in_channels: int, out_channels: int, edge_in_channels: int, edge_out_channels: int,
                 num_edge_types: int = 1, edge_scale: Optional[nn.Parameter] = None):
        super().__init__(aggr="add")
        if edge_in_channels == 0 and edge_out_channels:
            raise ValueError(f"edge_out_channels must be 0 without edge features (got {edge_out_channels})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.edge_in_channels, self.edge_out_channels = edge_in_channels, edge_out_channels
        self.lin_root = nn.Linear(in_channels, out_channels)  # W1
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=False)  # W2
        self.lin_msg = nn.Linear(out_channels + edge_in_channels, out_channels, bias=False)  # W3
        self.lin_edge = nn.Linear(edge_in_channels, edge_out_channels) if edge_out_channels else None  # W4
        if edge_scale is None:
            edge_scale = nn.Parameter(torch.ones(num_edge_types))
        elif edge_scale.shape != (num_edge_types,):
            raise ValueError(f"edge_scale must have shape ({num_edge_types},) (got {tuple(edge_scale.shape)})")
        self.edge_scale = edge_scale
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.lin_root.reset_parameters()
        self.lin_nbr.reset_parameters()
        self.lin_msg.reset_parameters()
        if self.lin_edge is not None:
            self.lin_edge.reset_parameters()
        with torch.no_grad():
            self.edge_scale.fill_(1.0)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor] = None,
                edge_type: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor]]:
        if (edge_attr is None) != (self.edge_in_channels == 0):
            raise ValueError(f"edge_attr must be given exactly when edge_in_channels > 0 "
                             f"(edge_in_channels={self.edge_in_channels})")
        if edge_type is None:
            edge_type = edge_index.new_zeros(edge_index.shape[1])
        out = self.propagate(edge_index, x=self.lin_nbr(x), edge_attr=edge_attr, edge_type=edge_type)
        out = out + self.lin_root(x)
        edge_out = self.lin_edge(edge_attr) if self.lin_edge is not None and edge_attr is not None else None
        return out, edge_out

    def message(self, x_j: Tensor, edge_attr: Optional[Tensor], edge_type: Tensor) -> Tensor:
        scaled = self.edge_scale[edge_type].unsqueeze(1) * x_j  # (E, F_out): e * W2 f_j
        if edge_attr is not None:
            scaled = torch.cat([scaled, edge_attr], dim=1)  # (E, F_out + D_in)
        return self.lin_msg(scaled)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"edge={self.edge_in_channels}->{self.edge_out_channels}, types={self.edge_scale.numel()})")


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

    def __init__(self, graphs: Sequence[ClassGraph], in_dim: int, node_dims: Sequence[int] = (64, 32, 32, 32, 32),
                 edge_dims: Sequence[int] = (5, 5, 5, 5, 5), mlp_dims: Sequence[int] = (128, 64, 32),
                 dropout: float = 0.0, dummy: float = DUMMY_FEATURE):
        super().__init__()
        if not graphs:
            raise ValueError("GRN: needs at least one class graph (got none)")
        if len({g.name for g in graphs}) != len(graphs):
            raise ValueError(f"GRN: class graph names must be unique (got {[g.name for g in graphs]})")
        if len(node_dims) != len(edge_dims) or not node_dims or min(*node_dims, *edge_dims) < 1:
            raise ValueError(f"GRN: node_dims and edge_dims must be equally long and positive "
                             f"(got {tuple(node_dims)} and {tuple(edge_dims)})")
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
        self.convs = nn.ModuleList(SCGConv(dims[k], dims[k + 1], edims[k], edims[k + 1], m, self.edge_scale)
                                   for k in range(len(self.node_dims)))
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
            raise ValueError(f"batch has {tuple(batch.x.shape[1:])} (slots, features) per image; this GRN "
                             f"expects ({self.n_slots}, {self.in_dim})")
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
        """Class scores (N, n_classes) from the final node (N, T, F) and edge (N, M, F_e) features."""
        flat = torch.cat([nodes.flatten(1), edges.flatten(1)], dim=1)  # (N, T*F + M*F_e)
        return self.mlp(flat.index_select(1, self.readout_index))

    def forward(self, batch: ISCGBatch) -> Tensor:
        return self.readout(*self.embed(batch))

    def edge_weights(self) -> dict[str, list[tuple[int, int, float]]]:
        """Each class's learnt e_ji per edge: {class: [(src, dst, e), ...]} in the graph's edge order."""
        values = self.edge_scale.detach().cpu().tolist()
        return {g.name: [(s, d, values[m0 + k]) for k, (s, d) in enumerate(g.edges)]
                for g, (m0, _) in zip(self.graphs, self.edge_spans)}

    def state(self) -> dict[str, Any]:
        """A checkpoint: the constructor arguments and the weights, loadable with weights_only=True."""
        return {
            "format": GRN_FORMAT,
            "graphs": [{"name": g.name, "n_nodes": g.n_nodes, "edges": [list(e) for e in g.edges]}
                       for g in self.graphs],
            "in_dim": self.in_dim, "node_dims": list(self.node_dims), "edge_dims": list(self.edge_dims),
            "mlp_dims": list(self.mlp_dims), "dropout": self.dropout, "dummy": self.dummy,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "GRN":
        if state.get("format") != GRN_FORMAT:
            raise ValueError(f"not a GRN checkpoint (format {GRN_FORMAT!r} expected, got {state.get('format')!r})")
        graphs = [ClassGraph(g["name"], g["n_nodes"], tuple(tuple(e) for e in g["edges"])) for g in state["graphs"]]
        model = cls(graphs, state["in_dim"], state["node_dims"], state["edge_dims"], state["mlp_dims"],
                    state["dropout"], state["dummy"])
        model.load_state_dict(state["state_dict"])
        return model


class DenseGRN(GRN):
    """The same model as `GRN` with dense batched tensors instead of message passing (the reference).

    Each class graph is padded to K = the largest node count; its edges become a (K, K) adjacency of
    e_ji values (A[c, i, j] = e for edge j -> i, 0 where there is no edge) and its edge features a dense
    (K, K) grid masked to the existing edges. The split W3 = [W3a | W3b] gives
    sum_j W3 [e_ji W2 f_j || edge_ji] = W3a (A W2 f)_i + W3b sum_j edge_ji.
    """

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
        self.register_buffer("edge_cell", cls_of_edge * k * k + local[self.dst] * k + local[self.src],
                             persistent=False)
        self.register_buffer("slot_cell", cls_of_slot * k + local, persistent=False)
        self.register_buffer("dense_slot", dense_slot, persistent=False)

    def embed(self, batch: ISCGBatch) -> tuple[Tensor, Tensor]:
        x, edge_attr = self.inputs(batch)
        n, c, k = x.shape[0], len(self.graphs), self.k
        adj = torch.zeros(c * k * k, dtype=x.dtype, device=x.device).index_put((self.edge_cell,), self.edge_scale)
        adj = adj.view(c, k, k)  # (C, K_dst, K_src)
        mask = torch.zeros(c * k * k, 1, dtype=x.dtype, device=x.device).index_fill(0, self.edge_cell, 1.0)
        mask = mask.view(1, c, k, k, 1)
        h = x[:, self.dense_slot]  # (N, C, K, D)
        e = x.new_zeros(n, c * k * k, EDGE_FEATURES).index_copy(1, self.edge_cell, edge_attr)
        e = e.view(n, c, k, k, EDGE_FEATURES)  # (N, C, K_dst, K_src, 4)
        for conv, node_norm, edge_norm in zip(self.convs, self.node_norms, self.edge_norms):
            w3 = conv.lin_msg.weight
            w3_node, w3_edge = w3[:, :conv.out_channels], w3[:, conv.out_channels:]
            nbr = torch.einsum("cij,ncjf->ncif", adj, conv.lin_nbr(h))  # (N, C, K, F): sum_j e_ji W2 f_j
            edge_sum = (e * mask).sum(dim=3)  # (N, C, K, D_e): sum_j edge_ji over existing edges
            h_next = conv.lin_root(h) + nbr @ w3_node.T + edge_sum @ w3_edge.T
            h, e = node_norm(F.relu(h_next)), edge_norm(F.relu(conv.lin_edge(e)))
        nodes = h.reshape(n, c * k, self.node_dims[-1])[:, self.slot_cell]  # (N, T, F)
        edges = e.reshape(n, c * k * k, self.edge_dims[-1])[:, self.edge_cell]  # (N, M, F_e)
        return nodes, edges


# ----------------------------------------------------------------------------------------------- training

@dataclass
class TrainReport:
    """What `train_grn` did: loss curves, validation accuracy per epoch and the epoch whose weights were kept.

    val_accuracy is top-1 agreement with the targets: with the original network's argmax in "mimic" mode
    (fidelity), with the labels in "labels" mode.
    """

    mode: str
    epochs: int
    n_train: int
    n_val: int
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; the last epoch when there is no validation split

    @property
    def best_val_accuracy(self) -> Optional[float]:
        return self.val_accuracy[self.best_epoch - 1] if self.val_accuracy else None

    def __repr__(self) -> str:
        metric = "fidelity" if self.mode == "mimic" else "accuracy"
        best = (f", best epoch {self.best_epoch}: val {metric} {self.best_val_accuracy:.3f}"
                if self.val_accuracy else "")
        last = f"train loss {self.train_loss[-1]:.4f}" if self.train_loss else "not trained"
        return (f"TrainReport(mode={self.mode!r}, {self.epochs} epochs, {self.n_train} train / {self.n_val} val, "
                f"{last}{best}, {self.seconds:.1f} s)")


def _loss(logits: Tensor, targets: Tensor, mode: str, temperature: float) -> Tensor:
    if mode == "mimic":
        # Hinton distillation: KL between softened distributions, x T^2 so gradients keep their scale.
        student = F.log_softmax(logits / temperature, dim=1)
        teacher = F.log_softmax(targets / temperature, dim=1)
        return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * temperature ** 2
    return F.cross_entropy(logits, targets)


def _correct(logits: Tensor, targets: Tensor, mode: str) -> Tensor:
    wanted = targets.argmax(1) if mode == "mimic" else targets
    return (logits.argmax(1) == wanted).sum()


def _mask_one_concept(present: Tensor, generator: torch.Generator) -> Tensor:
    """VRX augmentation: mark one random present node of each image absent (images with none unchanged)."""
    scores = torch.rand(present.shape, generator=generator).to(present.device)  # (B, T)
    pick = scores.masked_fill(~present, -1.0).argmax(1)  # (B,) a present slot where there is one
    rows = torch.arange(present.shape[0], device=present.device)[present.any(1)]
    masked = present.clone()
    masked[rows, pick[rows]] = False
    return masked


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model: GRN, batch: ISCGBatch, *, batch_size: int = 256) -> Tensor:
    """Logits (N, n_classes) on the CPU, computed in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    try:
        out = [model(batch[s:s + batch_size].to(device)).cpu() for s in range(0, len(batch), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.n_classes)


def fidelity(model: GRN, batch: ISCGBatch, original_logits: Tensor) -> float:
    """Top-1 agreement between the GRN and the original network's logits (N, n) on the same images."""
    if len(batch) == 0:
        raise ValueError("fidelity of an empty batch is undefined")
    logits = predict(model, batch)
    return float((logits.argmax(1) == original_logits.cpu().argmax(1)).float().mean())


def _evaluate(model: GRN, batch: ISCGBatch, targets: Tensor, mode: str, temperature: float,
              batch_size: int) -> tuple[float, float]:
    logits = predict(model, batch, batch_size=max(batch_size, 256))
    targets = targets.cpu()
    return float(_loss(logits, targets, mode, temperature)), float(_correct(logits, targets, mode)) / len(batch)


def _group_split(groups: Tensor, val_fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Validation and training indices, whole groups at a time (the same seeded draw over groups)."""
    names, inverse = torch.unique(groups, return_inverse=True)
    order = torch.randperm(len(names), generator=generator)
    n_val = max(1, round(len(names) * val_fraction)) if val_fraction > 0 and len(names) > 1 else 0
    is_val = torch.zeros(len(names), dtype=torch.bool)
    is_val[order[:n_val]] = True
    val = is_val[inverse]
    return val.nonzero().flatten(), (~val).nonzero().flatten()


def train_grn(model: GRN, batch: ISCGBatch, targets: Tensor, *, mode: Literal["mimic", "labels"],
              val_fraction: float = 0.2, epochs: int = 100, batch_size: int = 32, lr: float = 0.001,
              lr_step: int = 25, lr_gamma: float = 0.8, weight_decay: float = 0.0, temperature: float = 2.0,
              mask_one_concept: bool = True, groups: Optional[Tensor] = None,
              seed: int = 0, device: Union[str, torch.device] = "cpu",
              progress: Optional[Callable[[int, int, dict[str, float]], None]] = None) -> TrainReport:
    """Train `model` in place on I-SCGs; keeps the weights that did best on a seeded validation split.

    mode "mimic" (NN -> human): `targets` are the original network's logits on the classes of interest
    (N, n); loss = KL(teacher || GRN) at `temperature` (default 2: softened targets carry the original
    network's ranking of the other classes, which "why not" answers rely on), scaled by T^2.
    mode "labels" (human -> NN): `targets` are class indices (N,); cross-entropy.
    Adam, batch 32, lr x0.8 every 25 epochs, 100 epochs: the HNI/VRX schedule; the learning rate is
    0.001 rather than the papers' 0.01, which was measured to stall at chance level on some seeds
    (see hni_engine.config.GrnConfig). `weight_decay` > 0 makes it AdamW (decoupled decay; 0 is plain
    Adam), which the engine uses against overfitting on small training sets.
    With `mask_one_concept`, each training image loses one random detected concept per step (VRX); the
    target is unchanged. Deterministic for a given seed; the global RNG state is left untouched.
    `groups` (N,) keeps images of one group on the same side of the validation split (a training image and
    its rotated copies), so validation measures images whose sources were never trained on.
    `progress(epoch, epochs, metrics)` is called after every epoch.
    """
    if mode not in ("mimic", "labels"):
        raise ValueError(f"mode must be 'mimic' or 'labels' (got {mode!r})")
    n = len(batch)
    expected = (n, model.n_classes) if mode == "mimic" else (n,)
    if tuple(targets.shape) != expected:
        raise ValueError(f"{mode} targets must have shape {expected} (got {tuple(targets.shape)})")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (got {val_fraction})")
    if groups is not None and tuple(groups.shape) != (n,):
        raise ValueError(f"groups must have shape {(n,)} (got {tuple(groups.shape)})")
    targets = targets.float() if mode == "mimic" else targets.long()
    generator = torch.Generator().manual_seed(seed)
    if groups is None:
        order = torch.randperm(n, generator=generator)
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 and n > 1 else 0
        val_idx, train_idx = order[:n_val], order[n_val:]
    else:
        val_idx, train_idx = _group_split(groups, val_fraction, generator)
        n_val = len(val_idx)
    if len(train_idx) == 0:
        raise ValueError(f"no training images left after the validation split (got {n} images)")

    model.to(device)
    train_batch, train_targets = batch[train_idx].to(device), targets[train_idx].to(device)
    val_batch, val_targets = batch[val_idx], targets[val_idx]
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0 (got {weight_decay})")
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay else \
        torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=lr_step, gamma=lr_gamma)
    report = TrainReport(mode=mode, epochs=epochs, n_train=len(train_idx), n_val=n_val)
    best_key: tuple[float, float] = (-math.inf, -math.inf)
    best_state: Optional[dict[str, Tensor]] = None
    start = time.perf_counter()
    # Dropout draws from the global RNG: seed a forked copy so training is repeatable and side-effect free.
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type=dev.type):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.randperm(len(train_idx), generator=generator).to(device)
            total = 0.0
            for s in range(0, len(perm), batch_size):
                idx = perm[s:s + batch_size]
                step = train_batch[idx]
                if mask_one_concept:
                    step = ISCGBatch(step.x, _mask_one_concept(step.present, generator), step.pos)
                loss = _loss(model(step), train_targets[idx], mode, temperature)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                # A bounded step: the first updates on fresh LayerNorm'd graphs can be large.
                torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                optimiser.step()
                total += loss.item() * len(idx)
            schedule.step()
            report.train_loss.append(total / len(perm))
            metrics = {"train_loss": report.train_loss[-1], "lr": optimiser.param_groups[0]["lr"]}
            if n_val:
                val_loss, val_acc = _evaluate(model, val_batch, val_targets, mode, temperature, batch_size)
                report.val_loss.append(val_loss)
                report.val_accuracy.append(val_acc)
                metrics.update(val_loss=val_loss, val_accuracy=val_acc)
                if (val_acc, -val_loss) > best_key:  # best accuracy, ties broken by the lower loss
                    best_key, report.best_epoch = (val_acc, -val_loss), epoch
                    best_state = copy.deepcopy(model.state_dict())
            if progress is not None:
                progress(epoch, epochs, metrics)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        report.best_epoch = epochs
    model.eval()
    report.seconds = time.perf_counter() - start
    return report

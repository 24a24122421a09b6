"""What flows into the GRN: the class graphs' structure (`ClassGraph`) and N images' I-SCGs (`ISCGBatch`).

Data layout. An `ISCGBatch` holds N images densely per *slot*: the T = sum of the class graphs' node
counts are laid out class after class, slot order within a class. The model owns the graph structure
(`ClassGraph`s) and turns a batch into one flat, disconnected torch-geometric graph per step with
vectorised index arithmetic: no per-image loop and no `Data` objects.

Absent nodes. An unmatched node's feature is replaced by the constant `dummy` (default `DUMMY_FEATURE`
= 0.01 in every dimension, the VRX "small constant"), whatever the batch holds there, and its position is
zeroed in the edge features. So changing anything stored at an absent slot cannot change the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import torch
from torch import Tensor

__all__ = ["DUMMY_FEATURE", "EDGE_FEATURES", "ClassGraph", "ISCGBatch", "Index"]

DUMMY_FEATURE = 0.01
EDGE_FEATURES = 4  # [x_j, y_j, x_i, y_i]

Index: TypeAlias = int | slice | Sequence[int] | Tensor


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
    def complete(cls, name: str, n_nodes: int) -> ClassGraph:
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
            raise ValueError(
                f"ISCGBatch.present must be a bool ({n}, {t}) tensor "
                f"(got {self.present.dtype} {tuple(self.present.shape)})"
            )
        if self.pos.shape != (n, t, 2):
            raise ValueError(f"ISCGBatch.pos must be ({n}, {t}, 2) (got {tuple(self.pos.shape)})")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: Index) -> ISCGBatch:
        """Images by int (kept as a batch of one), slice, index list or index/bool tensor."""
        if isinstance(index, int):
            index = [index]
        return ISCGBatch(self.x[index], self.present[index], self.pos[index])

    def to(self, device: str | torch.device) -> ISCGBatch:
        return ISCGBatch(self.x.to(device), self.present.to(device), self.pos.to(device))

    @staticmethod
    def cat(batches: Sequence[ISCGBatch]) -> ISCGBatch:
        """Images of several batches (same class graphs) in one batch, e.g. real + synthesized graphs."""
        return ISCGBatch(
            torch.cat([b.x for b in batches]),
            torch.cat([b.present for b in batches]),
            torch.cat([b.pos for b in batches]),
        )

"""Do a class's edge weights mean anything? The edge-drop test on the GRN.

An edge's weight e_ji gates everything the edge contributes (graphs.grn.model), so removing the edge is
setting its weight to 0. For each class graph and edge, the drop of the class's GRN score on held-out
images of that class when the edge is removed says how much the GRN's reasoning about the class uses it;
a weight that predicts its drop (rank correlation, E3 in BENCHMARKS.md) is evidence a reviewer can read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from hni_engine.graphs.grn import GRN, ISCGBatch

__all__ = ["EdgeDrop", "edge_drops", "weight_summary"]


@dataclass(frozen=True)
class EdgeDrop:
    src: int  # 0-based slots
    dst: int
    weight: float
    drop: float  # mean drop of the class's GRN score on its images when the edge is removed


@torch.no_grad()
def edge_drops(grn: GRN, batch: ISCGBatch, rows: torch.Tensor) -> dict[str, list[EdgeDrop]]:
    """Each class graph's edges with the drop of its class score when each is removed.

    Args:
        batch: I-SCGs of held-out images.
        rows: (N,) each image's class as a row of the GRN's output (-1: not one of its classes).
    """
    grn.eval()
    out: dict[str, list[EdgeDrop]] = {}
    weights = grn.edge_weights()
    for c, graph in enumerate(grn.graphs):
        images = torch.nonzero(rows == c).flatten()
        m0, _ = grn.edge_spans[c]
        found = []
        if len(images):
            sub = batch[images]
            full = grn(sub)[:, c]
            for k, (s, d, w) in enumerate(weights[graph.name]):
                saved = grn.edge_scale[m0 + k].item()
                grn.edge_scale[m0 + k] = 0.0
                try:
                    dropped = grn(sub)[:, c]
                finally:
                    grn.edge_scale[m0 + k] = saved
                found.append(EdgeDrop(s, d, w, float((full - dropped).mean())))
        out[graph.name] = found
    return out


def weight_summary(drops: list[EdgeDrop]) -> dict[str, float | None]:
    """The spread of a class's edge weights and whether they predict the drops (Spearman of |w| and drop)."""
    if not drops:
        return {"edges": 0, "min": None, "median": None, "max": None, "spearman_weight_drop": None}
    w = np.array([abs(e.weight) for e in drops])
    d = np.array([e.drop for e in drops])
    rho = float(stats.spearmanr(w, d).statistic) if len(drops) >= 3 and np.ptp(w) > 0 and np.ptp(d) > 0 else None
    return {
        "edges": len(drops),
        "min": round(float(w.min()), 4),
        "median": round(float(np.median(w)), 4),
        "max": round(float(w.max()), 4),
        "spearman_weight_drop": None if rho is None else round(rho, 4),
    }

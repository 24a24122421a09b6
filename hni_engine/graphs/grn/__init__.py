"""Graph Reasoning Network (VRX eq. 2-4, HNI Table 5): image-level concept graphs in, class scores out.

For every image there is one structural concept graph per class of interest (an I-SCG). Its nodes are
the class's c-SCG concepts, each matched to a patch of the image or absent; its edges are the c-SCG's
directed edges, carrying the positions of their two endpoints. The GRN runs five `SCGConv` layers over
all graphs of an image at once, concatenates the final node and edge features of every class graph and
maps them with an MLP to one score per class of interest.

batch.py holds what flows in (`ClassGraph`, `ISCGBatch`), layer.py the message-passing layer, model.py the
models and their checkpoints, training.py training and scoring.

Typical use::

    graphs = [ClassGraph.complete(name, 4) for name in classes]          # c-SCGs, slot order fixed
    grn = GRN(graphs, in_dim=512)
    report = train_grn(grn, iscgs, original_logits, mode="mimic")       # iscgs: ISCGBatch of N images
    grn.edge_weights()                                                  # {class: [(src, dst, e_ji)]}
    torch.save(grn.state(), path); GRN.from_state(torch.load(path, weights_only=True))
"""

from __future__ import annotations

from hni_engine.graphs.grn.batch import DUMMY_FEATURE, EDGE_FEATURES, ClassGraph, ISCGBatch
from hni_engine.graphs.grn.layer import SCGConv
from hni_engine.graphs.grn.model import GRN, GRN_FORMAT, DenseGRN
from hni_engine.graphs.grn.training import TrainReport, fidelity, predict, train_grn

__all__ = [
    "DUMMY_FEATURE",
    "EDGE_FEATURES",
    "GRN",
    "GRN_FORMAT",
    "ClassGraph",
    "DenseGRN",
    "ISCGBatch",
    "SCGConv",
    "TrainReport",
    "fidelity",
    "predict",
    "train_grn",
]

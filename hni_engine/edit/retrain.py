"""Stage 4 of `hni apply`: a new GRN learns the edited class graphs from ground-truth labels (HNI 3.2).

Its initial weights come from the workspace's seed, not from whatever the process drew before, so the
same plan on the same workspace gives the same GRN.
"""

from __future__ import annotations

from functools import partial

import torch

from hni_engine.edit.context import ApplyContext
from hni_engine.graphs.edge_evidence import edge_drops
from hni_engine.graphs.grn import GRN, ClassGraph, predict, train_grn
from hni_engine.graphs.grn.training import single_thread
from hni_engine.graphs.grn_ray import train_grn_on_ray
from hni_engine.progress import bar

__all__ = ["retrain_grn"]


def retrain_grn(ctx: ApplyContext) -> None:
    config, after = ctx.config, ctx.library_after
    g = config.grn
    graphs = []
    for n in ctx.grn_names:
        entry = after.get(n)
        assert entry is not None
        graphs.append(ClassGraph(n, len(entry.graph.nodes), tuple((e.src - 1, e.dst - 1) for e in entry.graph.edges)))
    with (
        bar(g.epochs, "training the GRN on the edited graphs", "epoch") as progress,
        single_thread(),
        torch.random.fork_rng(devices=[]),
    ):
        torch.manual_seed(config.seed)  # the initial weights: not whatever the process drew before
        grn = ctx.grn = GRN(graphs, ctx.grn_train_set.x.shape[-1])
        fit = partial(train_grn_on_ray, ctx.backend, ctx.ws.ray_train_dir) if ctx.backend.distributed else train_grn
        ctx.grn_report = fit(
            grn,
            ctx.grn_train_set,
            ctx.grn_train_targets,
            mode="labels",
            epochs=g.epochs,
            batch_size=g.batch_size,
            lr=g.lr,
            lr_step=g.lr_step,
            lr_gamma=g.lr_gamma,
            weight_decay=g.apply_weight_decay,
            edge_l1=g.apply_edge_l1,
            seed=config.seed,
            device=ctx.device,
            progress=lambda *a: progress.update(1),
        )
    # The retrained GRN's own edge weights, each checked by the edge-drop test on held-out graphs: the run's
    # library records these, not the extraction's.
    ctx.edge_drops = edge_drops(grn, ctx.test_graphs, ctx.grn_test_labels)
    predicted = ctx.grn_predicted = predict(grn, ctx.test_graphs).argmax(1)
    labels = ctx.grn_test_labels
    ctx.grn_per_class = {
        n: float((predicted[labels == i] == i).float().mean()) if (labels == i).any() else None
        for i, n in enumerate(ctx.grn_names)
    }
    ctx.grn_accuracy = float((predicted == labels).float().mean()) if len(labels) else None

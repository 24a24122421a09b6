"""Stages 2 and 3 of `hni apply`: the image graphs (I-SCGs) of the edited library, and synthesized ones
for classes defined from parts.

Patch features come from extraction's cache, so no network forward pass runs when the cache is intact
(test images of defined classes were never analysed: they cost one). A defined class's training graphs
are synthesized (HNI 4.2, hni_engine.edit.zeroshot); with `distill.composite_images` its virtual images
are also made in pixels for the student.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hni_dsl.library import Library
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, ImagePatches, analyse_all, candidate_patches
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.resolve import ApplyError
from hni_engine.edit.zeroshot import VirtualImage, compose, part_patches, synthesize
from hni_engine.graphs.extracted import Extracted
from hni_engine.graphs.grn import ISCGBatch
from hni_engine.graphs.scg import NodeConcept, iscg_batch, match_nodes
from hni_engine.store.cache import Cache
from hni_engine.store.config import HniConfig

__all__ = ["rebuild_graphs", "synthesize_defined"]


def rebuild_graphs(ctx: ApplyContext) -> None:
    start = time.perf_counter()
    cache = ctx.cache = Cache(ctx.ws.cache_dir, enabled=ctx.use_cache)
    analyser = ctx.analyser = Analyser(
        ctx.extraction_model, ctx.config, ctx.coi, cache, ctx.device, str(ctx.ws.config_path)
    )
    train, test = ctx.train, ctx.test
    ctx.coi_train = train.subset(np.flatnonzero(np.isin(train.labels, ctx.coi)))
    ctx.grn_test = test.subset(np.flatnonzero(np.isin([ctx.eval_classes[i] for i in test.labels], ctx.grn_names)))
    # Released as read: the patches read their features back from the cache when used (memory stays flat).
    train_an = analyse_all(analyser, ctx.coi_train, "reading cached train patches", hold=False)
    misses_train = cache.misses
    test_an = analyse_all(analyser, ctx.grn_test, "reading cached test patches", hold=False)
    coi_names, defined = ctx.coi_names, ctx.defined
    ctx.rows_of = {
        n: coi_names.index(n) if n in coi_names else len(coi_names) + defined.index(n) for n in ctx.grn_names
    }
    nodes: list[list[NodeConcept]] = []
    for n in ctx.grn_names:
        entry = ctx.library_after.get(n)
        assert entry is not None
        nodes.append(
            [NodeConcept(cid, ctx.extracted.anchors[cid], ctx.extracted.thresholds[cid]) for cid in entry.graph.nodes]
        )
    ctx.nodes = nodes
    ctx.train_patches = candidate_patches(train_an, len(defined))
    test_patches = candidate_patches(test_an, len(defined))
    ctx.rows = [ctx.rows_of[n] for n in ctx.grn_names]
    ctx.train_graphs = iscg_batch(ctx.train_patches, ctx.rows, ctx.nodes)
    ctx.test_graphs = iscg_batch(test_patches, ctx.rows, ctx.nodes)
    ctx.rebuild_report = {
        "seconds": round(time.perf_counter() - start, 3),
        "forward_passes_train": misses_train,
        "cache": cache.stats(),
    }
    # Labels in the GRN's class order.
    ctx.grn_train_labels = torch.tensor(
        [ctx.grn_names.index(ctx.base_classes[label]) for label in ctx.coi_train.labels], dtype=torch.long
    )
    ctx.grn_test_labels = torch.tensor(
        [ctx.grn_names.index(ctx.eval_classes[label]) for label in ctx.grn_test.labels], dtype=torch.long
    )


def synthesize_defined(ctx: ApplyContext) -> None:
    ctx.synthetic_counts, ctx.composites, ctx.composite_graphs, ctx.composite_labels = {}, [], [], []
    if not ctx.defined:
        ctx.grn_train_set, ctx.grn_train_targets = ctx.train_graphs, ctx.grn_train_labels
        return
    batches, labels = [ctx.train_graphs], [ctx.grn_train_labels]
    for name in ctx.defined:
        virtual, part_sources, like_rows = _synthesize_class(
            ctx.library_after,
            name,
            ctx.coi_names,
            ctx.coi_train,
            ctx.base_classes,
            ctx.train_patches,
            ctx.grn_names,
            ctx.rows_of,
            ctx.extracted,
            ctx.config,
            len(ctx.defined),
        )
        ctx.synthetic_counts[name] = len(virtual)
        graphs_of_class = iscg_batch([v.patches for v in virtual], ctx.rows, ctx.nodes)
        batches.append(graphs_of_class)
        labels.append(torch.full((len(virtual),), ctx.grn_names.index(name), dtype=torch.long))
        if ctx.config.distill.composite_images:
            ctx.composites.append(_compose_class(virtual, part_sources, like_rows, ctx.coi_train, ctx.analyser))
            ctx.composite_graphs.append(graphs_of_class)
            ctx.composite_labels.extend([ctx.student_classes.index(name)] * len(virtual))
    ctx.grn_train_set, ctx.grn_train_targets = ISCGBatch.cat(batches), torch.cat(labels)


def _synthesize_class(
    library: Library,
    name: str,
    coi_names: list[str],
    coi_train: ImageSet,
    base_classes: list[str],
    train_patches: list[ImagePatches],
    grn_names: list[str],
    rows_of: dict[str, int],
    extracted: Extracted,
    config: HniConfig,
    n_defined: int,
) -> tuple[list[VirtualImage], list[list[tuple[int, int]]], np.ndarray]:
    """The defined class's virtual images, where each part's matched patches came from (coi_train
    index, patch) and the coi_train index of each `edges like` image."""
    entry = library.get(name)
    assert entry is not None and entry.defined is not None
    like = entry.defined.edges_like
    m = len(entry.graph.nodes)
    parts, part_sources = [], []
    for cid in entry.graph.nodes:
        # the class whose pool holds it (an id's prefix is only a spelling of that class's name)
        owner = next((e.name for e in library.classes if e.pool_rank(cid) is not None), cid.split("/")[0])
        if owner not in coi_names:
            raise ApplyError(f"class {name!r}: part {cid} belongs to {owner!r}, which has no extracted images")
        label = base_classes.index(owner)
        owned = np.flatnonzero(coi_train.labels == label)
        found, where = part_patches(
            NodeConcept(cid, extracted.anchors[cid], extracted.thresholds[cid]),
            [train_patches[i] for i in owned],
            rows_of[owner],
        )
        part_sources.append([(int(owned[k]), patch) for k, patch in where])
        if len(found) == 0:
            raise ApplyError(
                f"class {name!r}: part {cid} is matched in no training image of {owner!r}; choose another concept"
            )
        parts.append(found)
    like_label = base_classes.index(like)
    like_rows = np.flatnonzero(coi_train.labels == like_label)
    if len(like_rows) == 0:
        raise ApplyError(f"class {name!r}: edges like {like!r}, which has no training images")
    like_images = [train_patches[i] for i in like_rows]
    like_entry = library.get(like)
    assert like_entry is not None
    like_nodes = [
        NodeConcept(cid, extracted.anchors[cid], extracted.thresholds[cid]) for cid in like_entry.graph.nodes[:m]
    ]
    anchors = np.stack([n.anchor for n in like_nodes]).astype(np.float32)
    thresholds = np.array([n.threshold for n in like_nodes], dtype=np.float32)
    slots = np.full((len(like_images), m), -1, dtype=np.int64)
    for k, image in enumerate(like_images):
        cand = np.flatnonzero(image.candidates[rows_of[like]])
        hit = match_nodes(image.features[cand], anchors, thresholds)
        slots[k, hit >= 0] = cand[hit[hit >= 0]]
    per_class = np.bincount(coi_train.labels)
    count = config.distill.synthetic_per_class or int(round(per_class[per_class > 0].mean()))
    rng = np.random.default_rng([config.seed, grn_names.index(name)])
    try:
        virtual = synthesize(parts, like_images, slots, count, len(coi_names) + n_defined, rng)
    except ValueError as exc:
        raise ApplyError(f"class {name!r}: {exc} (edges like {like!r})") from None
    return virtual, part_sources, like_rows


def _compose_class(
    virtual: list[VirtualImage],
    part_sources: list[list[tuple[int, int]]],
    like_rows: np.ndarray,
    coi_train: ImageSet,
    analyser: Analyser,
) -> np.ndarray:
    """The virtual images in pixels (N, H, W, 3) uint8; segment masks come from the cache."""
    masks_of: dict[int, np.ndarray] = {}

    def masks(index: int) -> np.ndarray:
        if index not in masks_of:
            masks_of[index] = analyser.masks(coi_train.images[index], coi_train.digests[index])
        return masks_of[index]

    out = []
    for v in virtual:
        base = int(like_rows[v.base])
        sources, pastes = [], []
        for part, pick, target, centre in v.pastes:
            image_index, patch = part_sources[part][pick]
            sources.append((coi_train.images[image_index], masks(image_index)[patch]))
            pastes.append((target, centre))
        out.append(compose(coi_train.images[base], pastes, sources))
    return np.stack(out) if out else np.zeros((0,) + coi_train.images.shape[1:], np.uint8)

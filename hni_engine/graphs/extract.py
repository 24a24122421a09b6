"""`hni extract`: from the original network to a concept library, I-SCGs and a GRN that mimics it.

The stages, in the order the data flows (HNI 3.1, VRX 3.1-3.2):

1. per image, cached: multi-resolution segments; patch features (`pool` or `crop`); one forward pass
   giving the logits, the Grad-CAM map of every class of interest and the class-logit gradient at the
   feature layer (for TCAV);
2. per class: concept discovery (k-means + ACE frequency rule, TCAV beside) -> the class's pool, each
   concept measured by deletion (its patches erased, the class logit's drop, with a bootstrap interval
   and a corrected p-value) and the pool ranked by it; discovery again with another seed marks the
   concepts found both times as stable;
3. per class: the c-SCG = the top-k pool concepts, all directed edges;
4. per image and class: the I-SCG by one-to-one matching;
5. the GRN trained to mimic the network on the classes of interest (on the training images, and on
   rotated copies of them when `extract.mimic_turns` asks: stage 1 runs on the copies too, stages 2-3
   never see them); edges kept by |e_ji|; the GRN retrained on the kept edges; fidelity measured on
   held-out (test) images;
6. the checks a reviewer reads: the edge-drop test of every kept edge, on the test images and on a turned
   copy of each (rotated by a random angle, then mirrored: an edge whose drop changes there reads the
   layout or pose), and per concept the network's accuracy on test images with and without it
   (ConceptExtract's error analysis).

The data's hash (every image file's, hni_engine.store.datahash) is recorded in `concepts/data.json`, so
later commands can say when the data changed since.

Outputs are written into a fresh folder and swapped in at the end, so an interrupted run leaves the
previous `concepts/` untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from hni_dsl.class_names import concept_id, concept_prefix
from hni_dsl.errors import HniError
from hni_dsl.fileio import staged_folder
from hni_dsl.library import (
    Library,
    write_library,
)
from hni_engine import formats
from hni_engine.compute.backend import Backend
from hni_engine.data.images import ImageSet, image_digest, turned_copies
from hni_engine.data.memory import release_every, release_free_memory
from hni_engine.discovery.analysis import Analyser, ImageAnalysis, analyse_all
from hni_engine.discovery.analysis_shards import AnalyserRecipe, Remote, sharded_prefetch
from hni_engine.discovery.concepts import Concept
from hni_engine.discovery.errors import concept_errors, presence
from hni_engine.discovery.importance import rank_by_deletion
from hni_engine.discovery.pools import ExtractError, discover_pools
from hni_engine.discovery.stability import compare_runs
from hni_engine.graphs.edge_evidence import edge_drops, weight_summary
from hni_engine.graphs.grn import GRN, ClassGraph, ISCGBatch, TrainReport, fidelity, train_grn
from hni_engine.graphs.grn.training import single_thread
from hni_engine.graphs.grn_ray import train_grn_on_ray
from hni_engine.graphs.library_build import EXEMPLARS_PER_CONCEPT, build_library, concept_card_of, exemplar
from hni_engine.graphs.scg import NodeConcept, iscg_batch
from hni_engine.network.models import LoadedModel, load_checkpoint
from hni_engine.progress import bar
from hni_engine.store.cache import Cache
from hni_engine.store.datahash import DataState, data_state
from hni_engine.store.recorded import config_record
from hni_engine.store.workspace import Workspace

__all__ = ["EXEMPLARS_PER_CONCEPT", "ExtractResult", "extract"]

MATCH_CHUNK = 256  # images matched to the c-SCG nodes at a time (as many as the analyser keeps recent)


@dataclass
class ExtractResult:
    library: Library
    fidelity: float
    report: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ExtractResult(classes={len(self.library.classes)}, fidelity={self.fidelity:.3f})"


def _grn_batch(analyses: list[ImageAnalysis], indices: np.ndarray, nodes: list[list[NodeConcept]]) -> ISCGBatch:
    """The I-SCGs of ``analyses[indices]``, matched a chunk of images at a time: only a chunk's patch features
    are in memory at once (released analyses read theirs back from the cache)."""
    chunks = np.array_split(np.asarray(indices), max(1, -(-len(indices) // MATCH_CHUNK)))
    return ISCGBatch.cat(
        [
            iscg_batch([analyses[i].patches() for i in part], range(len(nodes)), nodes)
            for part in release_every(chunks, every=1)  # a chunk's features freed, its pages given back
        ]
    )


def _stage_done(timings: dict[str, float], name: str, started: float) -> float:
    """Record stage ``name``'s seconds and give the pages it freed back to the operating system, so the next
    stage starts on a heap this one has shrunk (hni_engine.data.memory); returns the next stage's clock."""
    timings[name] = time.perf_counter() - started
    release_free_memory()
    return time.perf_counter()


class _FeaturesOf(Sequence[np.ndarray]):
    """Each analysis's patch features, read when asked for (not all held at once)."""

    def __init__(self, analyses: list[ImageAnalysis]) -> None:
        self.analyses = analyses

    def __len__(self) -> int:
        return len(self.analyses)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]  # an int only, as presence() reads it
        return self.analyses[index].features


def _mirrored_turns(data: ImageSet, seed: int) -> ImageSet:
    """One turned copy of each image (``turned_copies``: a random angle, the uncovered border reflected),
    mirrored left to right: a reflection across a random axis, so both a turn and a flip of the layout."""
    turned, _ = turned_copies(data, 1, seed)
    mirrored = np.ascontiguousarray(np.asarray(turned.images)[:, :, ::-1])  # (N, S, S, 3)
    paths = [f"{p}#mirror" for p in turned.paths]
    return ImageSet(turned.classes, mirrored, turned.labels, paths, turned.root, [image_digest(i) for i in mirrored])


def extract(
    ws: Workspace, *, device: str = "cpu", use_cache: bool = True, backend: Backend | None = None
) -> ExtractResult:
    """Everything `hni extract` makes, written into ``ws``; the per-image pass runs on ``backend`` (local
    when None: this process)."""
    config = ws.config
    backend = backend or Backend("local")
    if backend.distributed and not use_cache:
        raise HniError("the ray backend hands each image's analysis back through the workspace cache: drop --no-cache")
    torch.manual_seed(config.seed)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    data = data_state(ws)  # what the concepts come from; later commands compare the data with it
    classes = ws.data_classes()
    with bar(None, "loading images", "img") as progress:
        train = ws.load_split("train", classes, lambda done, total: progress.update(1))
        test = ws.load_split("test", classes, lambda done, total: progress.update(1))
    loaded = load_checkpoint(ws.model_path, config.model.arch, classes)
    loaded.model.to(device)
    names = ws.classes_of_interest(classes)
    coi = [classes.index(n) for n in names]
    cache = Cache(ws.cache_dir, enabled=use_cache)
    analyser = Analyser(loaded, config, coi, cache, device, str(ws.config_path))
    remote = Remote(backend, AnalyserRecipe(str(ws.root), tuple(classes), tuple(coi), device))
    if backend.distributed:
        analyser.prefetch = sharded_prefetch(backend, remote.recipe, analyser)
    clock = _stage_done(timings, "load", clock)

    train_keep = np.flatnonzero(np.isin(train.labels, coi))
    test_keep = np.flatnonzero(np.isin(test.labels, coi))
    train = train.subset(train_keep)
    test = test.subset(test_keep)
    # Released as made: features are read back from the cache when a stage needs them (memory stays flat).
    train_an = analyse_all(analyser, train, "analysing train images", hold=False)
    test_an = analyse_all(analyser, test, "analysing test images", hold=False)
    turns = config.extract.mimic_turns
    if turns:
        turned, source = turned_copies(train, turns, config.seed)
        turned_an = analyse_all(analyser, turned, "analysing rotated copies", hold=False)
    clock = _stage_done(timings, "analyse", clock)

    relaxed: dict[str, float] = {}
    chosen: dict[str, np.ndarray] = {}
    pools = discover_pools(config, train, train_an, coi, classes, relaxed, chosen)
    clock = _stage_done(timings, "discover", clock)

    try:  # the second run only says which concepts recur; a class it finds nothing for is all unstable
        chosen_again: dict[str, np.ndarray] = {}
        again = discover_pools(
            config.model_copy(update={"seed": config.seed + 1}),
            train,
            train_an,
            coi,
            classes,
            {},
            chosen_again,
            desc="discovering again",
        )
    except ExtractError:
        again, chosen_again = {}, {}
    either = {n: sorted({*chosen[n].tolist(), *chosen_again.get(n, np.zeros(0, int)).tolist()}) for n in names}
    rows = {n: j for j, n in enumerate(names)}
    for name, found in compare_runs(pools, again, train_an, either, rows).items():
        for concept, stability in zip(pools[name], found):
            concept.stable = stability.stable
    clock = _stage_done(timings, "stability", clock)

    evidence = rank_by_deletion(
        analyser,
        train,
        train_an,
        pools,
        chosen,
        {n: classes.index(n) for n in names},
        {n: j for j, n in enumerate(names)},
        remote,
    )
    clock = _stage_done(timings, "importance", clock)

    k = config.extract.top_k
    nodes = [[NodeConcept(concept_id(name, c.key), c.anchor, c.threshold) for c in pools[name][:k]] for name in names]
    graphs = [
        ClassGraph(name, len(n), tuple((a, b) for a in range(len(n)) for b in range(len(n)) if a != b))
        for name, n in zip(names, nodes)
    ]
    # The GRN mimics the network on the training images and their rotated copies (concepts came from the
    # originals alone); a copy stays on its source's side of the validation split.
    mimic_an = train_an + turned_an if turns else train_an
    groups = torch.from_numpy(np.concatenate([np.arange(len(train)), source])) if turns else None
    train_batch = _grn_batch(mimic_an, np.arange(len(mimic_an)), nodes)
    test_batch = _grn_batch(test_an, np.arange(len(test)), nodes)
    clock = _stage_done(timings, "match", clock)

    targets = torch.from_numpy(np.stack([a.logits for a in mimic_an]))[:, coi]  # (N, n)
    test_logits = torch.from_numpy(np.stack([a.logits for a in test_an]))[:, coi]
    g = config.grn
    train_args: dict[str, Any] = dict(
        mode="mimic",
        epochs=g.epochs,
        batch_size=g.batch_size,
        lr=g.lr,
        lr_step=g.lr_step,
        lr_gamma=g.lr_gamma,
        weight_decay=g.weight_decay,
        edge_l1=g.edge_l1,
        groups=groups,
        seed=config.seed,
        device=device,
    )
    dim = train_batch.x.shape[-1]
    fit = partial(train_grn_on_ray, backend, ws.ray_train_dir) if backend.distributed else train_grn
    with bar(g.epochs, "training the GRN (all edges)", "epoch") as progress, single_thread():
        full = GRN(graphs, dim)
        fit(full, train_batch, targets, progress=lambda *a: progress.update(1), **train_args)
        progress.update(g.epochs - progress.n)  # Ray Train's workers do not report here: the bar ends full
    held_out_all_edges = fidelity(full, test_batch, test_logits)
    # Keep the edges with the largest |e_ji| per class, then retrain on the kept graph.
    learnt = full.edge_weights()
    kept_graphs, kept_weights = [], {}
    for graph in graphs:
        ranked = sorted(learnt[graph.name], key=lambda t: (-abs(t[2]), t[0], t[1]))
        keep = ranked[: max(1, round(config.extract.edges_kept * len(ranked)))] if ranked else []
        kept_weights[graph.name] = {(s, d): w for s, d, w in keep}
        kept_graphs.append(ClassGraph(graph.name, graph.n_nodes, tuple(sorted((s, d) for s, d, _ in keep))))
    with bar(g.epochs, "training the GRN (kept edges)", "epoch") as progress, single_thread():
        grn = GRN(kept_graphs, dim)
        report = fit(grn, train_batch, targets, progress=lambda *a: progress.update(1), **train_args)
        progress.update(g.epochs - progress.n)
    held_out = fidelity(grn, test_batch, test_logits)
    clock = _stage_done(timings, "grn", clock)

    # The edge-drop test on held-out images: does each edge's weight say how much its class score uses it?
    test_rows = torch.tensor([coi.index(label) for label in test.labels])
    drops = edge_drops(grn, test_batch, test_rows)
    # The same test on a turned, mirrored copy of each test image (a seed of its own: not the mimic copies')
    turned_test = _mirrored_turns(test, config.seed + 1)
    turned_test_an = analyse_all(analyser, turned_test, "analysing turned test images", hold=False)
    turned_drops = edge_drops(grn, _grn_batch(turned_test_an, np.arange(len(turned_test)), nodes), test_rows)
    evidence["edges"] = {name: weight_summary(found) for name, found in drops.items()}
    every = [c for name in names for c in pools[name]]
    present = presence(
        _FeaturesOf(test_an), np.stack([c.anchor for c in every]), np.array([c.threshold for c in every])
    )
    predicted = np.array([a.logits.argmax() for a in test_an])
    for concept, errors in zip(every, concept_errors(present, test.labels, predicted, classes)):
        concept.errors = errors
    evidence["stability"] = {
        name: {
            "pool": round(float(np.mean([bool(c.stable) for c in pools[name]])), 4),
            "nodes": round(float(np.mean([bool(c.stable) for c in pools[name][:k]])), 4),
        }
        for name in names
    }
    clock = _stage_done(timings, "edges_and_errors", clock)

    library = build_library(names, classes, pools, kept_graphs, drops, loaded, config, turned_drops)
    _write_outputs(
        ws,
        library,
        pools,
        names,
        grn,
        train,
        analyser,
        {"kept": held_out, "all": held_out_all_edges},
        report,
        timings,
        cache,
        loaded,
        relaxed,
        data,
        evidence,
        backend.describe(),
    )
    timings["write"] = time.perf_counter() - clock
    return ExtractResult(library, held_out, json.loads(ws.extract_report_path.read_text()))


def _member_locations(
    pools: dict[str, list[Concept]], names: list[str], train: ImageSet, analyser: Analyser
) -> dict[str, list[list[str | float]]]:
    """Where each concept's member patches are: [image path, x0, y0, x1, y1] (box normalised to [0, 1]).

    For people (which images show the concept) and for benchmarks that compare concepts with the
    synthetic world's ground truth (is a concept the injected context object?).
    """
    out: dict[str, list[list[str | float]]] = {}
    masks_of: dict[int, np.ndarray] = {}
    for name in names:
        for c in pools[name]:
            rows: list[list[str | float]] = []
            for image_id, seg_id in c.members:
                if image_id not in masks_of:
                    masks_of[image_id] = analyser.masks(train.images[image_id], train.digests[image_id])
                mask = masks_of[image_id][seg_id]
                ys, xs = np.nonzero(mask)
                h, w = mask.shape
                rows.append(
                    [
                        train.paths[image_id],
                        float(xs.min() / w),
                        float(ys.min() / h),
                        float((xs.max() + 1) / w),
                        float((ys.max() + 1) / h),
                    ]
                )
            out[concept_id(name, c.key)] = rows
    return out


def _write_outputs(
    ws: Workspace,
    library: Library,
    pools: dict[str, list[Concept]],
    names: list[str],
    grn: GRN,
    train: ImageSet,
    analyser: Analyser,
    held_out: dict[str, float],
    report: TrainReport,
    timings: dict[str, float],
    cache: Cache,
    loaded: LoadedModel,
    relaxed: dict[str, float],
    data: DataState,
    evidence: dict[str, Any],
    compute: str,
) -> None:
    # Written beside concepts/ and swapped in whole: an interrupted extraction leaves the old one.
    data_file = ws.data_manifest_path.relative_to(ws.concepts_dir)
    with staged_folder(ws.concepts_dir, replace=True) as built:
        write_library(library, built / "library.json")
        ids = [concept_id(name, c.key) for name in names for c in pools[name]]
        anchors = torch.from_numpy(np.stack([c.anchor for name in names for c in pools[name]]))
        thresholds = torch.tensor([c.threshold for name in names for c in pools[name]])
        torch.save(
            {
                "format": formats.ANCHORS,
                "ids": ids,
                "anchors": anchors,
                "thresholds": thresholds,
                "members": _member_locations(pools, names, train, analyser),
                "model_sha256": loaded.sha256,
            },
            built / "anchors.pt",
        )
        torch.save({"format": formats.GRN, "classes": names, "state": grn.state()}, built / "grn.pt")
        with bar(
            sum(min(EXEMPLARS_PER_CONCEPT, len(c.members)) for n in names for c in pools[n]),
            "writing exemplar patches",
            "patch",
        ) as progress:
            for name in names:
                folder = built / "patches" / concept_prefix(name)
                folder.mkdir(parents=True, exist_ok=True)
                for c in pools[name]:
                    for i, (image_id, seg_id) in enumerate(c.members[:EXEMPLARS_PER_CONCEPT]):
                        masks = analyser.masks(train.images[image_id], train.digests[image_id])
                        exemplar(train.images[image_id], masks[seg_id]).save(folder / f"{c.key}_{i}.png")
                        progress.update(1)
                    of_images = len(evidence["classes"][name]["images"])
                    concept_card_of(c, name, train, analyser, of_images).save(
                        folder / f"{c.key}_context.jpg", quality=85
                    )
        summary = {
            "fidelity_test": held_out["kept"],  # the GRN written, on its kept edges
            "fidelity_test_all_edges": held_out["all"],  # the first training, before edge selection
            "grn": {"best_epoch": report.best_epoch, "val_fidelity": report.val_accuracy, "epochs": report.epochs},
            "classes": names,
            # rotated copies the GRN also mimicked (extract.mimic_turns), beside the originals
            "images": {"train": len(train), "rotated_copies": report.n_train + report.n_val - len(train)},
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "compute": compute,  # where the per-image pass ran (the results do not depend on it)
            "cache": cache.stats(),
            # classes whose concepts recur in fewer images than extract.min_cluster_images asks (value used)
            "frequency_rule_relaxed": relaxed,
            # how importance was measured, each class's evidence and what erasing random patches does; each
            # class's edge weights and whether they predict the edge-drop test
            "evidence": evidence,
            "model_sha256": loaded.sha256,
            "config": config_record(ws.config),  # what later commands compare hni.toml with
            "data": data.summary(),  # every file's hash: data.json
        }
        (built / data_file).write_text(data.to_json())
        (built / "extract.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")

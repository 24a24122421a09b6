"""What an edit did to the network's reasoning, measured on two networks: the core of `hni compare` and of the
comparison `hni apply` records in each run (`compare.json`, extraction against the new run).

For each class, each side is measured on its own network, now (nothing is copied from an edit script or a
run's records):

- test accuracy of the class;
- the importance of each concept in either side's c-SCG: the drop of the class logit when the concept's
  patches are erased in the class's discovery images (the deletion test extraction ranks pools by,
  discovery.deletion), with that side's network;
- the c-SCG's edges with their weights in the side's own GRN (a run's retrained GRN for a run).

Patches are found with the extraction's features (cached), as `hni apply` finds them, so both sides erase
the same pixels and only the network differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hni_engine import formats
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, analyse_all
from hni_engine.discovery.deletion import LogitReader, measure_deletion
from hni_engine.discovery.importance import concept_patches, fill_colour
from hni_engine.edit.context import ApplyContext
from hni_engine.graphs.extracted import Extracted
from hni_engine.network.models import LoadedModel
from hni_engine.network.training import predict_logits
from hni_engine.store.config import HniConfig

__all__ = ["BASE", "ClassComparison", "Evidence", "Side", "as_json", "compare_with_extraction", "measure_sides"]

BASE = "base"


@dataclass
class Side:
    """One side of a comparison: a network, its library and GRN, and what was measured on it."""

    name: str  # "base" or a run id
    state: Extracted
    network: LoadedModel
    classes: list[str]  # the network's outputs
    accuracy: dict[str, float | None] = field(default_factory=dict)


@dataclass
class ClassComparison:
    name: str
    accuracy: tuple[float | None, float | None]
    # concept id -> (drop on side A's network, drop on side B's network); None where it has no output
    importance: dict[str, tuple[float | None, float | None]]
    nodes: tuple[tuple[str, ...], tuple[str, ...]]
    edges: tuple[dict[str, float | None], dict[str, float | None]]  # "1->2" -> weight, per side


@dataclass
class Evidence:
    """The images both sides are measured on, and how their patches are found."""

    analyser: Analyser  # built on the extraction's network (its cached features)
    analysed: list[str]  # the analyser's classes, in its candidate-row order
    train: ImageSet  # labels index train_classes
    train_classes: list[str]
    test: ImageSet  # labels index test_classes
    test_classes: list[str]
    discovery_images: dict[str, set[str]]  # class -> digests of its discovery images (extract.json)


def _accuracy(side: Side, ev: Evidence, config: HniConfig, device: str) -> None:
    m = config.model
    predicted = predict_logits(side.network.model, ev.test.images, m.mean, m.std, device=device).argmax(1).numpy()
    for label, name in enumerate(ev.test_classes):
        rows = ev.test.labels == label
        if name not in side.classes or not rows.any():
            side.accuracy[name] = None
            continue
        side.accuracy[name] = float(np.mean([side.classes[p] == name for p in predicted[rows]]))


def measure_sides(
    a: Side, b: Side, extracted: Extracted, ev: Evidence, config: HniConfig, device: str = "cpu"
) -> list[ClassComparison]:
    """Measure both sides (see the module's doc) for every class either side's library has."""
    sides = [a, b]
    for side in sides:
        _accuracy(side, ev, config, device)
    out = []
    for name in dict.fromkeys(n for side in sides for n in side.state.library.class_names):
        entries = [side.state.library.get(name) for side in sides]
        graph_nodes = [tuple(e.graph.nodes) if e is not None else () for e in entries]
        nodes = (graph_nodes[0], graph_nodes[1])
        concepts = list(dict.fromkeys(nodes[0] + nodes[1]))
        importance: dict[str, tuple[float | None, float | None]] = {cid: (None, None) for cid in concepts}
        used = ev.discovery_images.get(name, set())
        images = [i for i, d in enumerate(ev.train.digests) if d in used] if name in ev.analysed else []
        if images and concepts:
            subset = ev.train.subset(images)
            drops = _drops(ev, subset, ev.analysed.index(name), concepts, extracted, sides, name, config, device)
            importance = {cid: (drops[0][k], drops[1][k]) for k, cid in enumerate(concepts)}
        weights = [_grn_weights(side, name) for side in sides]
        accuracy = (a.accuracy.get(name), b.accuracy.get(name))
        out.append(ClassComparison(name, accuracy, importance, nodes, (weights[0], weights[1])))
    return out


def _drops(
    ev: Evidence,
    subset: ImageSet,
    row: int,
    concepts: list[str],
    extracted: Extracted,
    sides: list[Side],
    name: str,
    config: HniConfig,
    device: str,
) -> list[list[float | None]]:
    """Per side, each concept's mean class-logit drop when erased in ``subset`` (None: no such output)."""
    m = config.model
    analyses = analyse_all(ev.analyser, subset, f"{name}: reading cached patches")
    anchors = np.stack([extracted.anchors[c] for c in concepts])
    thresholds = np.array([extracted.thresholds[c] for c in concepts])
    patches = concept_patches(analyses, range(len(analyses)), row, anchors, thresholds)
    out: list[list[float | None]] = []
    for side in sides:
        if name not in side.classes:
            out.append([None] * len(concepts))
            continue
        label = side.classes.index(name)
        logits = predict_logits(side.network.model, subset.images, m.mean, m.std, device=device)[:, label]
        found, _ = measure_deletion(
            list(range(len(subset))),
            patches,
            lambda i: subset.images[i],
            lambda i: ev.analyser.masks(subset.images[i], subset.digests[i]),
            [float(v) for v in logits],
            LogitReader(side.network.model, m.mean, m.std, device, 64),
            label,
            fill_colour(m.mean),
            config.seed,
            controls=False,  # the drops only: no p-values here
        )
        out.append([f.logit_drop for f in found])
    return out


def _grn_weights(side: Side, name: str) -> dict[str, float | None]:
    """The class's edge weights in the side's own GRN (1-based slots), not as a library recorded them."""
    found = side.state.grn.edge_weights().get(name, [])
    return {f"{s + 1}->{d + 1}": round(w, 4) for s, d, w in found}


def as_json(a: Side, b: Side, found: list[ClassComparison]) -> dict[str, Any]:
    return {
        "format": formats.COMPARE,
        "a": a.name,
        "b": b.name,
        "classes": [
            {
                "name": c.name,
                "accuracy": list(c.accuracy),
                "importance": {cid: list(v) for cid, v in c.importance.items()},
                "nodes": [list(n) for n in c.nodes],
                "edges": [dict(e) for e in c.edges],
            }
            for c in found
        ],
    }


def compare_with_extraction(ctx: ApplyContext) -> None:
    """Stage 7 of `hni apply`: the extraction against the new network, for the run's compare.json (the
    report's comparison section; `hni compare` measures the same on demand)."""
    base = Side(BASE, ctx.extracted, ctx.extraction_model, ctx.base_classes)
    state = Extracted(ctx.library_after, ctx.extracted.anchors, ctx.extracted.thresholds, ctx.grn, ctx.grn_names)
    student = LoadedModel(ctx.student, ctx.config.model.arch, ctx.student_classes, "", {})
    run = Side("run", state, student, ctx.student_classes)  # record() names it by the run's id
    report = json.loads(ctx.ws.extract_report_path.read_text(encoding="utf-8"))
    found = report.get("evidence", {}).get("classes", {})
    ev = Evidence(
        ctx.analyser,
        ctx.coi_names,
        ctx.train,
        ctx.base_classes,
        ctx.test,
        ctx.eval_classes,
        {name: set(entry.get("images", [])) for name, entry in found.items()},
    )
    ctx.comparison = as_json(base, run, measure_sides(base, run, ctx.extracted, ev, ctx.config, ctx.device))

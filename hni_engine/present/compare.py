"""`hni compare [A] [B]`: what an edit did to the network's reasoning, not just to its accuracy.

Each side is the extraction (`base`) or a run. For each class, both sides are measured on the side's own
network, now (nothing is copied from an edit script or a run's records):

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

from hni_dsl.errors import HniError
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, analyse_all
from hni_engine.discovery.deletion import LogitReader, measure_deletion
from hni_engine.discovery.importance import concept_patches, fill_colour
from hni_engine.graphs.extracted import Extracted, load_extracted
from hni_engine.network.models import LoadedModel, load_checkpoint
from hni_engine.network.training import predict_logits
from hni_engine.present.explain_image import run_state
from hni_engine.store.cache import Cache
from hni_engine.store.names import load_names, with_names
from hni_engine.store.runs import resolve_run
from hni_engine.store.workspace import Workspace

__all__ = ["BASE", "ClassComparison", "Side", "as_json", "compare", "format_comparison"]

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


def _side(ws: Workspace, wanted: str | None, extracted: Extracted, device: str) -> Side:
    """``base``, a run id or unique prefix, or None: the current run (runs/HEAD)."""
    if wanted == BASE:
        classes = ws.data_classes()
        network = load_checkpoint(ws.model_path, ws.config.model.arch, classes)
        network.model.to(device)
        return Side(BASE, extracted, network, classes)
    run_id = resolve_run(ws, wanted)
    if run_id is None:
        raise HniError(f"no run to compare ({ws.runs_dir} has none yet; `hni apply` makes them)")
    state, network, classes = run_state(ws, run_id, extracted, device)
    return Side(run_id, state, network, classes)


def _accuracy(side: Side, test: ImageSet, data_classes: list[str], ws: Workspace, device: str) -> None:
    m = ws.config.model
    predicted = predict_logits(side.network.model, test.images, m.mean, m.std, device=device).argmax(1).numpy()
    for label, name in enumerate(data_classes):
        rows = test.labels == label
        if name not in side.classes or not rows.any():
            side.accuracy[name] = None
            continue
        side.accuracy[name] = float(np.mean([side.classes[p] == name for p in predicted[rows]]))


def compare(
    ws: Workspace, a: str | None, b: str | None, device: str = "cpu"
) -> tuple[Side, Side, list[ClassComparison]]:
    """Measure both sides (see the module's doc) for every class either side's library has."""
    extracted = load_extracted(ws)
    sides = [_side(ws, wanted, extracted, device) for wanted in (a, b)]
    names = load_names(ws.root)
    for side in sides:
        side.state.library = with_names(side.state.library, names)
    data_classes = ws.data_classes()
    test = ws.load_split("test", data_classes)
    train = ws.load_split("train", data_classes)
    for side in sides:
        _accuracy(side, test, data_classes, ws, device)
    evidence = json.loads(ws.extract_report_path.read_text()).get("evidence", {}).get("classes", {})
    coi = [n for n in extracted.classes if n in data_classes]
    # Patch features come from the extraction's network (its cache), whichever networks are compared.
    base_network = next((s.network for s in sides if s.name == BASE), None) or _base_network(ws, device)
    analyser = Analyser(base_network, ws.config, [data_classes.index(n) for n in coi], Cache(ws.cache_dir), device)
    out = []
    for name in dict.fromkeys(n for side in sides for n in side.state.library.class_names):
        entries = [side.state.library.get(name) for side in sides]
        graph_nodes = [tuple(e.graph.nodes) if e is not None else () for e in entries]
        nodes = (graph_nodes[0], graph_nodes[1])
        concepts = list(dict.fromkeys(nodes[0] + nodes[1]))
        importance: dict[str, tuple[float | None, float | None]] = {cid: (None, None) for cid in concepts}
        used = set(evidence.get(name, {}).get("images", []))  # the discovery images, by content
        images = [i for i, d in enumerate(train.digests) if d in used] if name in coi else []
        if images and concepts:
            subset = train.subset(images)
            drops = _drops(ws, analyser, subset, coi.index(name), concepts, extracted, sides, name, device)
            importance = {cid: (drops[0][k], drops[1][k]) for k, cid in enumerate(concepts)}
        weights = [_grn_weights(side, name) for side in sides]
        edges = (weights[0], weights[1])
        accuracy = (sides[0].accuracy.get(name), sides[1].accuracy.get(name))
        out.append(ClassComparison(name, accuracy, importance, nodes, edges))
    return sides[0], sides[1], out


def _drops(
    ws: Workspace,
    analyser: Analyser,
    subset: ImageSet,
    row: int,
    concepts: list[str],
    extracted: Extracted,
    sides: list[Side],
    name: str,
    device: str,
) -> list[list[float | None]]:
    """Per side, each concept's mean class-logit drop when erased in ``subset`` (None: no such output)."""
    m = ws.config.model
    analyses = analyse_all(analyser, subset, f"{name}: reading cached patches")
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
            lambda i: analyser.masks(subset.images[i], subset.digests[i]),
            [float(v) for v in logits],
            LogitReader(side.network.model, m.mean, m.std, device, 64),
            label,
            fill_colour(m.mean),
            ws.config.seed,
        )
        out.append([f.logit_drop for f in found])
    return out


def _grn_weights(side: Side, name: str) -> dict[str, float | None]:
    """The class's edge weights in the side's own GRN (1-based slots), not as a library recorded them."""
    found = side.state.grn.edge_weights().get(name, [])
    return {f"{s + 1}->{d + 1}": round(w, 4) for s, d, w in found}


def _base_network(ws: Workspace, device: str) -> LoadedModel:
    network = load_checkpoint(ws.model_path, ws.config.model.arch, ws.data_classes())
    network.model.to(device)
    return network


def _num(value: float | None, fmt: str = "+.2f") -> str:
    return "-" if value is None else format(value, fmt)


def format_comparison(a: Side, b: Side, found: list[ClassComparison]) -> str:
    lines = [f"comparing {a.name} (A) with {b.name} (B); each side measured on its own network"]
    for c in found:
        acc = c.accuracy
        change = f" ({100 * (acc[1] - acc[0]):+.1f} pts)" if acc[0] is not None and acc[1] is not None else ""
        lines.append(f"\n{c.name}: test accuracy {_num(acc[0], '.3f')} -> {_num(acc[1], '.3f')}{change}")
        if c.importance:
            lines.append("  concept importance (class logit drop when erased, A -> B):")
            for cid, (x, y) in c.importance.items():
                where = "/".join(s for s, nodes in zip("AB", c.nodes) if cid in nodes)
                concept = b.state.library.concept(cid) or a.state.library.concept(cid)
                label = f" {json.dumps(concept.label)}" if concept is not None and concept.label else ""
                lines.append(f"    {cid}{label}".ljust(36) + f" {_num(x)} -> {_num(y)}   in c-SCG {where}")
        keys = sorted(set(c.edges[0]) | set(c.edges[1]), key=lambda k: tuple(int(v) for v in k.split("->")))
        if keys:
            lines.append("  edge weights (A -> B; '-': no such edge):")
            lines.append(
                "    "
                + ", ".join(f"{k} {_num(c.edges[0].get(k), '.3f')} -> {_num(c.edges[1].get(k), '.3f')}" for k in keys)
            )
    return "\n".join(lines)


def as_json(a: Side, b: Side, found: list[ClassComparison]) -> dict[str, Any]:
    return {
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

"""E1 and E2: is the importance hni shows faithful, and does it separate a class's concepts?

    .venv/bin/python -m benchmarks.evidence WS [WS ...] [--out benchmarks/results/evidence-quick.json]

For each extracted workspace and each class of interest, on images never used to measure the importance
(the class's training images that discovery did not use, and its test images, which in some scenarios
come from another distribution): every candidate patch is assigned to the nearest concept of the class's
pool, within that concept's matching threshold; each concept's patches are erased and the drop of the
class logit measured (discovery.deletion, the same fill). E1 is the Spearman rank correlation between the
importance the library shows (its logit drop on the discovery images) and this held-out drop, per class;
the same correlation is given for the TCAV score and the TCAV directional derivative, which is how the
measure shown first was chosen. E2 is the fraction of pairs of a class's pool concepts whose shown
importance is equal to 3 decimals.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from hni_dsl.library import Library
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, analyse_all
from hni_engine.discovery.deletion import LogitReader, measure_deletion
from hni_engine.discovery.importance import concept_patches, fill_colour
from hni_engine.graphs.extracted import load_extracted
from hni_engine.network.models import load_checkpoint
from hni_engine.store.cache import Cache
from hni_engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def spearman(a: list[float], b: list[float]) -> float | None:
    """Rank correlation; None where it is undefined (fewer than 3 concepts, or one side constant)."""
    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(stats.spearmanr(a, b).statistic)


def tied_fraction(values: list[float]) -> float:
    pairs = list(combinations([round(v, 3) for v in values], 2))
    return sum(x == y for x, y in pairs) / len(pairs) if pairs else 0.0


def held_out_drops(
    analyser: Analyser, data: ImageSet, label: int, row: int, anchors: np.ndarray, thresholds: np.ndarray, seed: int
) -> list[float]:
    """Each concept's mean logit drop when erased in ``data``'s images (found as the image graphs find it)."""
    analyses = analyse_all(analyser, data, "held-out images")
    patches = concept_patches(analyses, range(len(analyses)), row, anchors, thresholds)
    m = analyser.config.model
    found, _ = measure_deletion(
        list(range(len(data))),
        patches,
        lambda i: data.images[i],
        lambda i: analyser.masks(data.images[i], data.digests[i]),
        [float(a.logits[label]) for a in analyses],
        LogitReader(analyser.loaded.model, m.mean, m.std, "cpu", 64),
        label,
        fill_colour(m.mean),
        seed,
    )
    return [round(f.logit_drop, 4) for f in found]


def measure_workspace(root: Path) -> dict[str, Any]:
    ws = Workspace(root)
    extracted = load_extracted(ws)
    measured = json.loads(ws.extract_report_path.read_text())["evidence"]["classes"]
    classes = ws.data_classes()
    loaded = load_checkpoint(ws.model_path, ws.config.model.arch, classes)
    names = [e.name for e in extracted.library.classes if e.output_index is not None and e.pool]
    coi = [classes.index(n) for n in names]
    analyser = Analyser(loaded, ws.config, coi, Cache(ws.cache_dir), "cpu")
    train, test = ws.load_split("train", classes), ws.load_split("test", classes)
    out: dict[str, Any] = {"workspace": str(root), "classes": {}}
    start = time.perf_counter()
    for row, name in enumerate(names):
        entry = extracted.library.get(name)
        assert entry is not None
        label = classes.index(name)
        used = set(measured[name]["images"])
        unseen = train.subset([i for i in train.indices_of(label) if train.digests[i] not in used])
        tested = test.subset(test.indices_of(label))
        ids = [c.id for c in entry.pool]
        anchors = np.stack([extracted.anchors[i] for i in ids])
        thresholds = np.array([extracted.thresholds[i] for i in ids])
        shown = [c.logit_drop if c.logit_drop is not None else c.importance for c in entry.pool]
        tcav = [c.tcav or 0.0 for c in entry.pool]
        directional = [c.directional or 0.0 for c in entry.pool]
        record: dict[str, Any] = {"concepts": len(ids), "shown": shown}
        for key, data in (("unseen_train", unseen), ("test", tested)):
            drops = held_out_drops(analyser, data, label, row, anchors, thresholds, ws.config.seed) if len(data) else []
            record[key] = {
                "images": len(data),
                "drop": drops,
                "E1_shown": spearman(shown, drops),
                "E1_tcav": spearman(tcav, drops),
                "E1_directional": spearman(directional, drops),
            }
        record["E2_tied_pairs"] = tied_fraction(shown)
        record["E2_tied_pairs_tcav"] = tied_fraction(tcav)
        out["classes"][name] = record
    out["seconds"] = round(time.perf_counter() - start, 1)
    out.update(edges_and_stability(extracted.library, json.loads(ws.extract_report_path.read_text())))
    return out


def edges_and_stability(library: Library, report: dict[str, Any]) -> dict[str, Any]:
    """E3 from the library's edges (weight, drop), per class and pooled; E4 from the recorded stability."""
    per_class: dict[str, dict[str, Any]] = {}
    weights: list[float] = []
    drops: list[float] = []
    for entry in library.classes:
        pairs = [(abs(e.weight), e.drop) for e in entry.graph.edges if e.weight is not None and e.drop is not None]
        if not pairs:
            continue
        w, d = [p[0] for p in pairs], [p[1] for p in pairs]
        per_class[entry.name] = {"edges": len(pairs), "E3": spearman(w, d), "weights": sorted(w)}
        weights += w
        drops += d
    stability = report["evidence"]["stability"]
    k = [len(e.graph.nodes) for e in library.classes if e.name in stability]
    nodes = sum(stability[e.name]["nodes"] * len(e.graph.nodes) for e in library.classes if e.name in stability)
    return {
        "edges": per_class,
        "E3_pooled": spearman(weights, drops),
        "E3_median_per_class": _median([c["E3"] for c in per_class.values()]),
        "weight_quartiles": [round(float(q), 4) for q in np.percentile(weights, [0, 25, 50, 75, 100])]
        if weights
        else [],
        "E4_stable_nodes": nodes / sum(k) if k else None,
        "E4_stable_pool": float(np.mean([v["pool"] for v in stability.values()])) if stability else None,
        "extract_seconds": report["timings_s"],
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(known)) if known else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspaces", nargs="+", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = [measure_workspace(w) for w in args.workspaces]
    every = [c for r in results for c in r["classes"].values()]
    summary: dict[str, Any] = {"classes": len(every)}
    for key in ("unseen_train", "test"):
        for measure in ("shown", "tcav", "directional"):
            summary[f"E1_median_{measure}_{key}"] = _median([c[key][f"E1_{measure}"] for c in every])
    summary["E2_tied_pairs_shown"] = float(np.mean([c["E2_tied_pairs"] for c in every])) if every else None
    summary["E2_tied_pairs_tcav"] = float(np.mean([c["E2_tied_pairs_tcav"] for c in every])) if every else None
    summary["per_workspace"] = {
        Path(r["workspace"]).name: {
            key: r[key]
            for key in ("E3_pooled", "E3_median_per_class", "weight_quartiles", "E4_stable_nodes", "E4_stable_pool")
        }
        for r in results
    }
    print(
        f"{'workspace':24} {'class':22} {'E1 unseen train: shown':>23} {'tcav':>6} {'dd':>6}"
        f" {'E1 test: shown':>15} {'E2':>5}"
    )
    for r in results:
        for name, c in r["classes"].items():
            u, t = c["unseen_train"], c["test"]
            cells = [u["E1_shown"], u["E1_tcav"], u["E1_directional"], t["E1_shown"]]
            text = [f"{'-' if v is None else f'{v:+.2f}'}" for v in cells]
            print(
                f"{Path(r['workspace']).name:24} {name:22} {text[0]:>23} {text[1]:>6} {text[2]:>6} {text[3]:>15}"
                f" {c['E2_tied_pairs']:5.2f}"
            )
    print(json.dumps(summary, indent=2))
    if args.out:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        record = {"summary": summary, "results": results, "commit": commit, "machine": platform.platform()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

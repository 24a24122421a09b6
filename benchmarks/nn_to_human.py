"""NN -> human quality and cost: GRN fidelity per scenario and seed, whether extraction reveals the
injected shortcut (spurious), and the peak memory of `hni extract` (M1).

    .venv/bin/python -m benchmarks.nn_to_human                        # 3 scenarios x seeds 0 1 2, default size
    .venv/bin/python -m benchmarks.nn_to_human --quick --seeds 0      # a small smoke version
    .venv/bin/python -m benchmarks.nn_to_human --existing --workdir W # re-extract W's trained workspaces

Run from the repository root. Each run is the real command line in a fresh workspace: `hni init
--scenario`, `hni train`, `hni extract` (in --workdir, default /tmp/hni-bench). Results go to
benchmarks/results/nn_to_human[-quick].json with the machine, commit and settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from hni_engine.oracle.scenario_scripts import BACKGROUND, CONTEXT, MIXED, concept_labels
from hni_engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent  # the repository root: commands run there, results go below it
HNI = [
    sys.executable,
    "-c",
    (
        "import resource, sys; from hni_engine.cli.app import main; status = main(sys.argv[1:]); "
        "print(f'PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr); "
        "sys.exit(status)"
    ),
]


def run(*argv: str) -> tuple[float, int]:
    """Run one hni command; returns (seconds, peak RSS in MB). Fails loudly with the command's output."""
    start = time.perf_counter()
    proc = subprocess.run(
        HNI + list(argv), capture_output=True, text=True, cwd=ROOT, check=False, env={**os.environ, "HNI_QUIET": "1"}
    )
    if proc.returncode != 0:
        raise SystemExit(f"hni {' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    peak = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
    return time.perf_counter() - start, (peak[-1] // 1024 if peak else -1)


def context_concepts(ws: Path, k: int) -> dict[str, dict]:
    """For each class trained with a context object: is one of its c-SCG concepts that object?

    A concept counts as the context object when most of its member patches have their centre inside the
    context object's box in their image (ground truth from the generator's metadata).
    """
    manifest = json.loads((ws / "data" / "scenario.json").read_text())
    injected = manifest.get("context", {}).get("objects", {})
    boxes = {}
    size = manifest["image_size"]
    for line in (ws / "data" / "metadata.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("context"):
            boxes[record["file"]] = [v / size for v in record["context"]["box"]]
    library = json.loads((ws / "concepts" / "library.json").read_text())
    members = torch.load(ws / "concepts" / "anchors.pt", weights_only=True)["members"]
    out = {}
    for entry in library["classes"]:
        if entry["name"] not in injected:
            continue
        found = []
        for slot, concept_id in enumerate(entry["graph"]["nodes"][:k], start=1):
            inside = 0
            rows = members[concept_id]
            for path, x0, y0, x1, y1 in rows:
                rel = (
                    str(Path(path).relative_to(ws / "data"))
                    if Path(path).is_absolute()
                    else str(Path(path).relative_to(Path("data")))
                )
                box = boxes.get(rel)
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                inside += bool(box and box[0] <= cx <= box[2] and box[1] <= cy <= box[3])
            share = inside / max(1, len(rows))
            if share >= 0.5:
                found.append({"slot": slot, "concept": concept_id, "members_on_context": round(share, 2)})
        out[entry["name"]] = {"context_object": injected[entry["name"]], "in_top_k": found}
    return out


def nodes_on_objects(ws: Path) -> dict[str, int]:
    """What the c-SCG concepts show, by the example scripts' own labelling (hni_engine.oracle.scenario_scripts:
    where most member patches are centred): a part, the context object, background, or nothing in
    particular (mixed)."""
    labels = concept_labels(Workspace(ws))
    library = json.loads((ws / "concepts" / "library.json").read_text())
    kinds = {CONTEXT: "context", BACKGROUND: "background", MIXED: "mixed"}
    counts = {"part": 0, "context": 0, "background": 0, "mixed": 0}
    for entry in library["classes"]:
        for concept_id in entry["graph"]["nodes"]:
            counts[kinds.get(labels.get(concept_id, MIXED), "part")] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["spurious", "posebias", "zeroshot"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", default="/tmp/hni-bench")
    parser.add_argument("--out", help="result file (default benchmarks/results/nn_to_human[-quick].json)")
    parser.add_argument(
        "--existing",
        action="store_true",
        help="reuse workspaces already in WORKDIR that have a trained network: run `hni extract` "
        "alone (its per-image stages then come from the cache, so its seconds are not "
        "comparable)",
    )
    args = parser.parse_args()
    out = (
        Path(args.out)
        if args.out
        else ROOT / "benchmarks" / "results" / f"nn_to_human{'-quick' if args.quick else ''}.json"
    )
    results: list[dict] = []
    for scenario in args.scenarios:
        for seed in args.seeds:
            ws = Path(args.workdir) / f"{scenario}-{seed}{'-quick' if args.quick else ''}"
            if args.existing and (ws / "model" / "base.json").is_file():
                init_s = train_s = 0.0
            else:
                shutil.rmtree(ws, ignore_errors=True)
                init_s, _ = run(
                    "init", str(ws), "--scenario", scenario, "--seed", str(seed), *(["--quick"] if args.quick else [])
                )
                train_s, _ = run("-w", str(ws), "train", "--device", "auto")
            extract_s, peak_mb = run("-w", str(ws), "extract", "--device", "auto")
            report = json.loads((ws / "concepts" / "extract.json").read_text())
            network = json.loads((ws / "model" / "base.json").read_text())
            row = {
                "scenario": scenario,
                "seed": seed,
                "fidelity": round(report["fidelity_test"], 4),
                "fidelity_all_edges": round(report.get("fidelity_test_all_edges", float("nan")), 4),
                "network_test_accuracy": round(network["test_accuracy"], 4),
                "seconds": {"init": round(init_s, 1), "train": round(train_s, 1), "extract": round(extract_s, 1)},
                "extract_stage_seconds": report["timings_s"],
                "extract_peak_rss_mb": peak_mb,
                "reused_workspace": bool(args.existing and not init_s),
                "csg_nodes": nodes_on_objects(ws),
            }
            if scenario == "spurious":
                row["context"] = context_concepts(ws, k=4)
            results.append(row)
            print(json.dumps(row), flush=True)
            write_summary(out, args.quick, results)  # after every run: a long benchmark cut short keeps its rows
    print(f"wrote {out}")


def write_summary(out: Path, quick: bool, results: list[dict]) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    summary = {
        "benchmark": "nn_to_human",
        "quick": quick,
        "commit": commit,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'}, python {platform.python_version()}",
        "runs": results,
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()

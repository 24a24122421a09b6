"""P4: GRN training throughput, torch-geometric message passing vs the dense batched reference (target >= 0.5x).

Writes benchmarks/results/p4_grn_throughput.json (or --out) and prints it. Run from the repository root:
`.venv/bin/python -m benchmarks.p4_grn_throughput` (options: --images, --runs, --threads 2 1 ..., --out).
The first thread count (default 2, the target's setting) gives the headline ratio; further counts are
measured in the same run for comparison (on a busy machine, two threads can spend more time waiting for
each other than computing on tensors this small).

Both models are the same math with the same initial weights (`DenseGRN` shares `GRN`'s parameters); one
run is one epoch of forward + cross-entropy + backward + Adam step over all images in batches of 32. The
two models alternate run by run, so background load hits both alike; the best run of each is reported,
with every run for the spread. The ratio is GRN images/s over DenseGRN images/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torch_geometric

from hni_engine.graphs.grn import GRN, ClassGraph, DenseGRN, ISCGBatch

ROOT = Path(__file__).resolve().parent.parent  # the repository root: results go below it

N_CLASSES, N_NODES, IN_DIM, BATCH, SEED, TARGET = 10, 4, 512, 32, 0, 0.5


def make_data(n: int) -> tuple[ISCGBatch, torch.Tensor]:
    """Patch-feature-like inputs (non-negative, as after a ReLU), 70% of the nodes matched."""
    g = torch.Generator().manual_seed(SEED)
    t = N_CLASSES * N_NODES
    batch = ISCGBatch(
        torch.rand(n, t, IN_DIM, generator=g), torch.rand(n, t, generator=g) < 0.7, torch.rand(n, t, 2, generator=g)
    )
    return batch, torch.randint(0, N_CLASSES, (n,), generator=g)


def epoch_seconds(model: GRN, batch: ISCGBatch, labels: torch.Tensor) -> float:
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    start = time.perf_counter()
    for s in range(0, len(batch), BATCH):
        loss = F.cross_entropy(model(batch[s : s + BATCH]), labels[s : s + BATCH])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "p4_grn_throughput.json")
    args = parser.parse_args()

    graphs = [ClassGraph.complete(f"class_{c}", N_NODES) for c in range(N_CLASSES)]
    batch, labels = make_data(args.images)
    torch.manual_seed(SEED)
    initial = GRN(graphs, IN_DIM).state_dict()
    models = {"grn": GRN(graphs, IN_DIM), "dense": DenseGRN(graphs, IN_DIM)}
    with torch.no_grad():
        for model in models.values():
            model.load_state_dict(initial)
        check = batch[:BATCH]
        assert torch.allclose(models["grn"](check), models["dense"](check), atol=1e-4), "the two models differ"

    load_before = os.getloadavg()
    by_threads = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for model in models.values():  # warm-up: allocator, first-call code paths
            epoch_seconds(model, batch[: 2 * BATCH], labels[: 2 * BATCH])
        seconds: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.runs):
            for name, model in models.items():
                seconds[name].append(epoch_seconds(model, batch, labels))
        rate = {name: args.images / min(runs) for name, runs in seconds.items()}
        by_threads.append(
            {
                "threads": threads,
                "grn_images_per_s": round(rate["grn"], 1),
                "dense_images_per_s": round(rate["dense"], 1),
                "ratio_grn_over_dense": round(rate["grn"] / rate["dense"], 3),
                "grn_epoch_s": [round(s, 3) for s in seconds["grn"]],
                "dense_epoch_s": [round(s, 3) for s in seconds["dense"]],
            }
        )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "P4",
        "measure": "GRN training throughput (forward + backward + Adam step), images/s, best of runs",
        "target_ratio": TARGET,
        "images": args.images,
        "classes": N_CLASSES,
        "nodes_per_class": N_NODES,
        "edges_per_class": N_NODES * (N_NODES - 1),
        "in_dim": IN_DIM,
        "batch_size": BATCH,
        "runs": args.runs,
        "threads": by_threads[0]["threads"],
        "grn_images_per_s": by_threads[0]["grn_images_per_s"],
        "dense_images_per_s": by_threads[0]["dense_images_per_s"],
        "ratio_grn_over_dense": by_threads[0]["ratio_grn_over_dense"],
        "met": by_threads[0]["ratio_grn_over_dense"] >= TARGET,
        "by_threads": by_threads,
        # A shared machine: the load during the run says how much the numbers can be trusted.
        "load_average_1_5_15_before_after": [[round(x, 2) for x in load] for load in (load_before, os.getloadavg())],
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}",
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "commit": commit,
        "seed": SEED,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

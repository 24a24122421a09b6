"""X1-X3: extraction and distillation past one process, on Ray (README, "Running on a cluster").

X1: `hni extract` at 2,000 training images (224 px), local against `--backend ray` with 2 workers on this
machine; read from two runs of benchmarks.streaming (``--local`` and ``--ray``: their result files). Target:
a speed-up of at least 1.6x.

X2: one distillation epoch at 224 px (resnet18, ``--images`` rendered digits photographs, batch 32), in this
process (torch with the threads `hni` gives itself) against Ray Train with ``--workers`` DDP workers
(edit.distill_ray). Epoch time is the training loop's own seconds over its epochs; Ray Train's start-up is
recorded beside it.

X3: a projection on paper of ImageNet-20 at 224 px (26,000 training images, 20 classes) on N workers, from
the figures measured here: the per-image pass scales with the images and divides over the workers at the
efficiency X1 measured; deletion is one task per class; discovery, stability, matching and the GRN stay in
the command's process (discovery and deletion scale with the classes, matching and the GRN with the
images); distillation's epoch divides over the workers at X2's efficiency.

    .venv/bin/python -m benchmarks.streaming --sizes 1000 2000 --out L.json
    .venv/bin/python -m benchmarks.streaming --backend ray --sizes 2000 --out R.json
    .venv/bin/python -m benchmarks.scale_out --local L.json --ray R.json

Writes benchmarks/results/scale_out.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torchvision

from benchmarks.gpu_throughput import photographs
from hni_engine.compute.backend import Backend
from hni_engine.edit.distill import TEMPERATURES, distill
from hni_engine.edit.distill_ray import distill_on_ray
from hni_engine.store.config import DistillConfig, ModelConfig

ROOT = Path(__file__).resolve().parent.parent
X1_TARGET = 1.6
IMAGENET20_IMAGES, IMAGENET20_CLASSES = 26_000, 20
PER_CLASS_STAGES = ("discover", "stability", "importance")


def x2(images: int, epochs: int, workers: int) -> dict[str, Any]:
    data = photographs(images)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=len(data.classes)).eval()
    soft = torch.full((len(data), len(data.classes)), 1.0 / len(data.classes))
    labels = torch.from_numpy(data.labels)
    config = DistillConfig(epochs=epochs, batch_size=32)
    m = ModelConfig()
    args = (model, data, soft, labels, config, TEMPERATURES["node"], m.mean, m.std)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))  # as `hni` limits itself
    start = time.perf_counter()
    _, local = distill(*args)
    local_wall = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="hni-x2-") as storage:
        start = time.perf_counter()
        _, on_ray = distill_on_ray(Backend("ray", workers=workers), Path(storage), *args)
        ray_wall = time.perf_counter() - start
    local_epoch, ray_epoch = local.seconds / epochs, on_ray.seconds / epochs
    return {
        "images": len(data),
        "epochs": epochs,
        "workers": workers,
        "local_epoch_s": round(local_epoch, 2),
        "ray_epoch_s": round(ray_epoch, 2),
        "speed_up": round(local_epoch / ray_epoch, 3),
        "local_wall_s": round(local_wall, 1),
        "ray_wall_s": round(ray_wall, 1),
        "ray_start_s": round(ray_wall - on_ray.seconds, 1),
        "local_s_per_image_epoch": round(local_epoch / len(data), 4),
    }


def x1(local: dict[str, Any], ray: dict[str, Any]) -> dict[str, Any]:
    a = next(r for r in local["rows"] if r["train_images"] == 2000)
    b = next(r for r in ray["rows"] if r["train_images"] == 2000)
    speed = a["extract_wall_s"] / b["extract_wall_s"]
    stages = {k: round(a["timings"][k] / b["timings"][k], 3) for k in a["timings"] if b["timings"].get(k)}
    return {
        "local_s": a["extract_wall_s"],
        "ray_s": b["extract_wall_s"],
        "speed_up": round(speed, 3),
        "met": speed >= X1_TARGET,
        "stage_speed_ups": stages,
        "local_timings": a["timings"],
        "ray_timings": b["timings"],
        "peak_rss_mb": {"local": a["peak_rss_mb"], "ray_driver": b["peak_rss_mb"]},
    }


def x3(local: dict[str, Any], first: dict[str, Any], distilled: dict[str, Any]) -> dict[str, Any]:
    """Hours for ImageNet-20 on N workers, from the 2,000-image local run, X1's and X2's efficiencies."""
    row = next(r for r in local["rows"] if r["train_images"] == 2000)
    t, n, classes = row["timings"], row["train_images"], 4
    # Per-image work: the analysis of training images, test images and turned copies (fixed test split).
    analyse_per_image = t["analyse"] / n
    efficiency = first["stage_speed_ups"].get("analyse", 1.0) / 2  # of one worker, from 2 workers
    deletion_efficiency = first["stage_speed_ups"].get("importance", 1.0) / 2
    per_class_driver = (t["discover"] + t["stability"]) / classes
    deletion_per_class = t["importance"] / classes
    per_image_driver = (t["match"] + t["grn"]) / n
    distill_epoch_per_image = distilled["local_s_per_image_epoch"]
    distill_efficiency = distilled["speed_up"] / distilled["workers"]
    out = {}
    for workers in (1, 2, 8, 32):
        scale = 1.0 if workers == 1 else efficiency
        extract_s = (
            IMAGENET20_IMAGES * analyse_per_image / (workers * scale)
            + IMAGENET20_CLASSES * per_class_driver
            + IMAGENET20_CLASSES
            * deletion_per_class
            / (min(workers, IMAGENET20_CLASSES) * (1.0 if workers == 1 else deletion_efficiency))
            + IMAGENET20_IMAGES * per_image_driver
            + t["load"]
            + t["edges_and_errors"]
            + t.get("write", 0.0)  # written after the report: not in its timings
        )
        epoch_s = (
            IMAGENET20_IMAGES * distill_epoch_per_image / (workers * (1.0 if workers == 1 else distill_efficiency))
        )
        out[str(workers)] = {
            "extract_h": round(extract_s / 3600, 2),
            "distill_epoch_h": round(epoch_s / 3600, 2),
            "distill_10_epochs_h": round(10 * epoch_s / 3600, 2),
        }
    return {
        "assumptions": {
            "analyse_s_per_image": round(analyse_per_image, 4),
            "analyse_efficiency_per_worker": round(efficiency, 3),
            "deletion_s_per_class": round(deletion_per_class, 1),
            "deletion_efficiency_per_worker": round(deletion_efficiency, 3),
            "discovery_and_stability_s_per_class": round(per_class_driver, 1),
            "match_and_grn_s_per_image": round(per_image_driver, 4),
            "distill_s_per_image_epoch": distill_epoch_per_image,
            "distill_efficiency_per_worker": round(distill_efficiency, 3),
        },
        "by_workers": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--local", type=Path, default=Path("/tmp/streaming_r1.json"))
    parser.add_argument("--ray", type=Path, default=Path("/tmp/streaming_x1_ray.json"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale_out.json")
    parser.add_argument("--x2-from", type=Path, help="take X2 from this earlier result file instead of measuring")
    args = parser.parse_args()
    doc: dict[str, Any] = {"benchmark": "scale_out"}
    if args.x2_from:
        doc["x2"] = json.loads(args.x2_from.read_text())["x2"]
    else:
        doc["x2"] = x2(args.images, args.epochs, args.workers)
    print("X2", json.dumps(doc["x2"]), flush=True)
    if args.local.exists() and args.ray.exists():
        local, ray = json.loads(args.local.read_text()), json.loads(args.ray.read_text())
        doc["x1"] = x1(local, ray)
        print("X1", json.dumps({k: doc["x1"][k] for k in ("local_s", "ray_s", "speed_up", "met")}), flush=True)
        doc["x3"] = x3(local, doc["x1"], doc["x2"])
        print("X3", json.dumps(doc["x3"]["by_workers"]), flush=True)
    doc["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__}
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

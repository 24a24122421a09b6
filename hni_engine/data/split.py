"""A user's ImageFolder without a test split, split into train and test inside the workspace.

The split is per class (each keeps its share of test images), drawn with a recorded seed, and written as
hard links where the file system allows (copies otherwise) under the workspace's `data/`: the user's folder
is only read. `data/split.json` records the seed, the fraction and the source of every image, so the same
folder, seed and fraction give the same split.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hni_dsl.fileio import atomic_write_text
from hni_engine.data.images import DataError, require_classes, scan_image_folder

__all__ = ["SPLIT_FILE", "split_image_folder", "test_count"]

SPLIT_FILE = "split.json"
FORMAT = "hni-split/1"


def test_count(images: int, fraction: float) -> int:
    """How many of a class's ``images`` go to test: the rounded share, at least one and never all of them.

    >>> [test_count(n, 0.2) for n in (2, 5, 10, 12)]
    [1, 1, 2, 2]
    """
    if images < 2:
        return 0
    return min(images - 1, max(1, round(images * fraction)))


def _place(source: Path, target: Path) -> str:
    """Hard-link the file ``source`` is (a symbolic link's target, never the link itself, which could dangle
    or lead outside) at ``target``, or copy it across file systems; returns how."""
    target.parent.mkdir(parents=True, exist_ok=True)
    real = source.resolve()
    try:
        os.link(real, target)
        return "link"
    except OSError:
        shutil.copyfile(real, target)
        return "copy"


def split_image_folder(source: str | Path, target: str | Path, fraction: float, seed: int) -> dict[str, Any]:
    """Split the ImageFolder ``source`` (SOURCE/<class>/<image>) into TARGET/train and TARGET/test.

    A class with a single image cannot be split: that is a DataError naming it, as is a fraction outside
    (0, 1). Returns the manifest written to TARGET/split.json."""
    if not 0 < fraction < 1:
        raise DataError(f"--test-fraction {fraction}: must be between 0 and 1 (e.g. 0.2)")
    root = Path(source)
    classes, items = scan_image_folder(root)
    require_classes(root, classes)
    rng = np.random.default_rng(seed)
    out = Path(target)
    placed: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    how: set[str] = set()
    for label, name in enumerate(classes):
        files = sorted(Path(p) for p, lab in items if lab == label)
        if len(files) < 2:
            raise DataError(f"{root / name}: class {name!r} has one image; a test split needs at least two")
        chosen = set(rng.permutation(len(files))[: test_count(len(files), fraction)].tolist())
        for i, path in enumerate(files):
            split = "test" if i in chosen else "train"
            relative = path.relative_to(root / name)
            how.add(_place(path, out / split / name / relative))
            placed[split].append({"file": f"{name}/{relative.as_posix()}", "source": str(path)})
    manifest = {
        "format": FORMAT,
        "source": str(root),
        "seed": seed,
        "test_fraction": fraction,
        "placed_as": sorted(how),
        "counts": {split: len(files) for split, files in placed.items()},
        "images": placed,
    }
    atomic_write_text(out / SPLIT_FILE, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest

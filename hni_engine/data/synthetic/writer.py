"""Writing a scenario to disk: the ImageFolder tree, ``scenario.json`` (its manifest) and ``metadata.jsonl``.

Two kinds of world are written the same way: a ``Scenario`` of geometric parts (drawn by scene.render) and
a ``PhotoScenario`` of real digits on real photographs (drawn by photos.render_photo). ``generate`` and
``manifest`` take either and pick the kind's renderer and ground truth in ``_render`` and ``manifest``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from hni_dsl.fileio import staged_folder
from hni_engine import formats
from hni_engine.data.synthetic.photos import PhotoScenario, photo_manifest, render_photo
from hni_engine.data.synthetic.scene import context_of, render
from hni_engine.data.synthetic.spec import Split
from hni_engine.data.synthetic.world import Scenario

__all__ = ["MANIFEST_NAME", "METADATA_NAME", "generate", "manifest"]

MANIFEST_NAME = "scenario.json"
METADATA_NAME = "metadata.jsonl"


def _file_name(index: int, count: int) -> str:
    return f"{index:0{max(4, len(str(count - 1)))}d}.png"


def _context_counts(spec: Scenario, split: Split, cls: str) -> dict[str, int]:
    owners = (context_of(spec, split, cls, i) for i in range(spec.config.count(split)))
    return dict(sorted(Counter(owner for owner in owners if owner is not None).items()))


def manifest(spec: Scenario | PhotoScenario) -> dict[str, Any]:
    """The ground truth of a generated tree, as written to ``scenario.json``."""
    files = {"manifest": MANIFEST_NAME, "metadata": METADATA_NAME}
    if isinstance(spec, PhotoScenario):
        return {**photo_manifest(spec), "files": files}
    cfg = spec.config
    counts = {split.value: {c: cfg.count(split) for c in spec.class_names(split)} for split in Split}
    doc: dict[str, Any] = {
        "format": formats.SYNTHETIC,
        "scenario": spec.name,
        "description": spec.description,
        "seed": cfg.seed,
        "image_size": cfg.image_size,
        "config": dataclasses.asdict(cfg),
        "vocabulary": {p.name: p.to_json() for p in spec.vocabulary},
        "layouts": {layout.name: layout.to_json() for layout in spec.layouts},
        "classes": {
            c.name: {
                "parts": list(c.parts),
                "layout": c.layout,
                "seen": c.seen,
                "splits": [s.value for s in Split if c.name in spec.class_names(s)],
            }
            for c in spec.classes
        },
        "distractors": list(spec.distractors),
        "poses": {
            "angles": list(spec.pose.angles),
            "jitter_deg": spec.pose.jitter_deg,
            **{
                split.value: {
                    c: [spec.pose.angles[p] for p in spec.pose.poses(split, c)] for c in spec.class_names(split)
                }
                for split in Split
            },
        },
        "counts": counts,
        "files": files,
    }
    if spec.context is not None:
        rule = spec.context
        with_context = {split.value: {c: _context_counts(spec, split, c) for c in rule.objects} for split in Split}
        doc["context"] = {
            "objects": dict(rule.objects),
            "rate": rule.rate,
            "test": rule.test.value,
            "size": rule.size,
            "swap": dict(rule.swap),
            "counts": with_context,  # split -> class -> {context owner: images carrying that context}
        }
    if spec.compositions:
        classes = spec.classes_by_name
        doc["compositions"] = {
            comp.name: {
                "parts": [{"class": s, "index": i, "part": classes[s].parts[i - 1]} for s, i in comp.parts],
                "layout_from": comp.layout_from,
                "layout": classes[comp.layout_from].layout,
                "script": comp.script(),
            }
            for comp in spec.compositions
        }
    return doc


def _render(spec: Scenario | PhotoScenario, split: Split, cls: str, index: int) -> tuple[Image.Image, dict[str, Any]]:
    if isinstance(spec, PhotoScenario):
        return render_photo(spec, split, cls, index)
    return render(spec, split, cls, index)


def _jobs(spec: Scenario | PhotoScenario) -> Iterator[tuple[Split, str, int]]:
    for split in Split:
        for cls in spec.class_names(split):
            for index in range(spec.config.count(split)):
                yield split, cls, index


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output {str(out)!r} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output directory {str(out)!r} exists and is not empty; pass overwrite=True to replace it"
        )


def generate(
    spec: Scenario | PhotoScenario,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the scenario's ImageFolder tree, ``scenario.json`` and ``metadata.jsonl`` to ``out``.

    The tree is built in a hidden temporary folder beside ``out`` and renamed into place at the end, so an
    interrupted run leaves either the previous complete tree or nothing at ``out``. An existing non-empty
    ``out`` is refused unless ``overwrite`` is true. ``progress(done, total)`` is called after each image.
    Returns the manifest.
    """
    out = Path(out)
    _check_target(out, overwrite)
    # Someone may fill `out` while we render: checked again just before the swap.
    with staged_folder(out, replace=True, before_swap=lambda: _check_target(out, overwrite)) as tmp:
        total = sum(spec.config.count(s) * len(spec.class_names(s)) for s in Split)
        with open(tmp / METADATA_NAME, "w", encoding="utf-8") as meta:
            for done, (split, cls, index) in enumerate(_jobs(spec), start=1):
                folder = tmp / split.value / cls
                folder.mkdir(parents=True, exist_ok=True)
                name = _file_name(index, spec.config.count(split))
                image, record = _render(spec, split, cls, index)
                image.save(folder / name, format="PNG")
                meta.write(json.dumps({"file": f"{split.value}/{cls}/{name}", **record}) + "\n")
                if progress is not None:
                    progress(done, total)
        doc = manifest(spec)
        (tmp / MANIFEST_NAME).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc

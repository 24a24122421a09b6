"""One image of a scenario and its metadata record, a pure function of (scenario, split, class, index)."""

from __future__ import annotations

import math
import zlib
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from hni_engine.data.synthetic.raster import paint, paint_background
from hni_engine.data.synthetic.spec import ContextPolicy, Split, bad_value
from hni_engine.data.synthetic.world import Scenario

__all__ = ["context_of", "render"]


def _supersample(image_size: int) -> int:
    # Enough subpixels for smooth edges at small sizes without a huge canvas at 224 px and beyond.
    return max(2, math.ceil(256 / image_size))


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    # crc32 of names, not list positions, so adding a class never changes another class's images.
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng([seed, *words])


@lru_cache(maxsize=64)
def _ranks(seed: int, split: Split, cls: str, n: int) -> np.ndarray:
    """A seeded random rank for each image index of one class and split."""
    ranks = np.argsort(_rng(seed, "context", split.value, cls).permutation(n))
    ranks.setflags(write=False)
    return ranks


def context_of(spec: Scenario, split: Split, cls: str, index: int) -> str | None:
    """Which class's context object image ``index`` of ``cls`` carries, or None."""
    rule = spec.context
    if rule is None or cls not in rule.objects:
        return None
    n = spec.config.count(split)
    rank = int(_ranks(spec.config.seed, split, cls, n)[index])  # exact counts per class, not a coin per image
    if split is Split.TRAIN:
        return cls if rank < round(rule.rate * n) else None
    if rule.test is ContextPolicy.ABSENT or (rule.test is ContextPolicy.MIXED and rank < n // 2):
        return None
    if cls in rule.swap:
        return rule.swap[cls]
    others = sorted(c for c in rule.objects if c != cls)
    return others[int(_rng(spec.config.seed, "shuffle", cls, index).integers(len(others)))]


def _box(box: tuple[float, float, float, float] | None, scale: int) -> list[float] | None:
    return None if box is None else [round(b / scale, 2) for b in box]


def render(spec: Scenario, split: Split | str, cls: str, index: int) -> tuple[Image.Image, dict[str, Any]]:
    """Image ``index`` of class ``cls`` in ``split``, and its metadata record (boxes in pixels).

    A pure function of its arguments: the random generator is seeded by (seed, split, class, index).
    """
    split = Split(split)
    if cls not in spec.class_names(split):
        raise bad_value(f"class in split {split.value!r}", f"one of {list(spec.class_names(split))}", cls)
    if not 0 <= index < spec.config.count(split):
        raise bad_value("image index", f"in [0, {spec.config.count(split)})", index)
    cdef, parts = spec.classes_by_name[cls], spec.parts_by_name
    slots = spec.layouts_by_name[cdef.layout].slots
    out_size = spec.config.image_size
    ss = _supersample(out_size)
    size = out_size * ss
    rng = _rng(spec.config.seed, "image", split.value, cls, index)

    # Draw every random number in a fixed order and count, whatever branch is taken, so the same index
    # gives the same object with or without a context object.
    poses = spec.pose.poses(split, cls)
    pose = poses[index % len(poses)]
    angle = spec.pose.angles[pose] + rng.uniform(-spec.pose.jitter_deg, spec.pose.jitter_deg)
    radius = size * rng.uniform(0.3, 0.36)
    centre = size * (0.5 + rng.uniform(-0.07, 0.07, 2))
    slot_jitter = rng.uniform(-1.0, 1.0, (len(slots), 4))  # dx, dy, size, angle
    gains = rng.uniform(0.88, 1.12, len(slots) + 1)
    background = paint_background(rng, out_size)
    canvas = np.zeros((size, size, 4), dtype=np.float32)  # premultiplied RGB + coverage
    corner = rng.integers(4)
    context_jitter = rng.uniform(-1.0, 1.0, 4)
    n_clutter = int(rng.integers(spec.config.clutter + 1))

    clutter = []
    for _ in range(n_clutter):
        name = spec.distractors[int(rng.integers(len(spec.distractors)))]
        cx, cy = rng.uniform(0.08, 0.92, 2) * size
        box = paint(canvas, parts[name], cx, cy, radius * rng.uniform(0.16, 0.24), rng.uniform(0, 360), 1.0)
        clutter.append({"part": name, "box": _box(box, ss)})

    context = None
    owner = context_of(spec, split, cls, index)
    if owner is not None and spec.context is not None:
        name = spec.context.objects[owner]
        offset = size * (0.17 + 0.03 * context_jitter[:2])
        cx = offset[0] if corner % 2 == 0 else size - offset[0]
        cy = offset[1] if corner < 2 else size - offset[1]
        ctx_radius = size * spec.context.size * (1.0 + 0.1 * context_jitter[2])
        box = paint(canvas, parts[name], cx, cy, ctx_radius, 180.0 * context_jitter[3], gains[-1])
        context = {"object": name, "of_class": owner, "box": _box(box, ss)}

    theta = math.radians(angle)
    c, s = math.cos(theta), math.sin(theta)
    boxes = []
    for k, (slot, name, jit, gain) in enumerate(zip(slots, cdef.parts, slot_jitter, gains), start=1):
        x, y = slot.x + 0.06 * jit[0], slot.y + 0.06 * jit[1]
        px, py = centre[0] + radius * (c * x - s * y), centre[1] + radius * (s * x + c * y)
        box = paint(
            canvas,
            parts[name],
            px,
            py,
            radius * slot.size * (1.0 + 0.08 * jit[2]),
            slot.angle + angle + 6.0 * jit[3],
            gain,
        )
        boxes.append({"slot": k, "part": name, "box": _box(box, ss)})

    # Box-filter the supersampled drawing down and lay it over the background (smooth, so computed at the
    # output resolution: the same result as compositing at full resolution), then add sensor noise.
    small = canvas.reshape(out_size, ss, out_size, ss, 4).mean(axis=(1, 3))
    small = small[..., :3] + (1.0 - small[..., 3:]) * background
    small += rng.normal(0.0, 0.012, small.shape).astype(np.float32)
    pixels = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
    record = {
        "split": split.value,
        "class": cls,
        "index": index,
        "pose": {"index": pose, "angle": round(float(angle), 3)},
        "centre": [round(float(v) / ss, 2) for v in centre],
        "radius": round(float(radius) / ss, 2),
        "parts": boxes,
        "context": context,
        "clutter": clutter,
    }
    return Image.fromarray(pixels, "RGB"), record

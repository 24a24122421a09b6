"""Pictures of what `hni show` and `hni explain` print: c-SCGs, pools and explanations as PNG files.

A person recognises a concept by its patches, not by its id, so every picture shows exemplar patches (or
the image's own segments) next to the numbers the edit language uses: slot i is ``graph.nodes[i-1]``,
``pool[N]`` is the N-th concept of the ranked pool. Each drawing function also returns the layout it drew
(number, concept id, box), so tests can check that the numbers on the picture are the language's.

Pillow only (no plotting library, no torch): the pictures are made from the library file and plain arrays.
Signed values (edge weights e_ji, contributions) use one diverging scale: blue negative, gray near
zero, red positive; lines also get wider with the magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hni_dsl.library import ClassEntry, Library
from hni_engine.present.exemplars import exemplar_files
from hni_engine.present.picture_output import Picture, Placed, check_output, write_png

__all__ = [
    "ExplainPanel",
    "ExplainedNode",
    "Picture",
    "Placed",
    "check_output",
    "diverging",
    "explain_picture",
    "pool_picture",
    "scg_picture",
    "write_png",
]

PATCH = 96  # c-SCG node patches (exemplars are 64 px; upscaled without smoothing)
POOL_PATCH = 64  # pool grid patches, at their own size
POOL_EXEMPLARS = 6  # patches per pool row
POOL_LABELS = 240  # width of a pool row's text column; its patches start here
EXPLAIN_SIZE = 256  # explained images are upscaled to this
WHITE, INK, FAINT = (255, 255, 255), (30, 30, 30), (120, 120, 120)
MISSING = (200, 200, 200)  # a concept with no exemplar files (hand-made library)
HIGHLIGHT = (255, 244, 204)  # pool rows that are c-SCG nodes
_NEGATIVE, _ZERO, _POSITIVE = (33, 102, 172), (190, 190, 190), (178, 24, 43)
Point = tuple[float, float]  # (x, y) in pixels
RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in pixels


# -- drawing helpers --------------------------------------------------------------------------------


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def diverging(value: float | None, scale: float) -> tuple[int, int, int]:
    """Blue for negative, gray at zero, red for positive; |value| >= scale is the full colour.

    >>> diverging(1.0, 1.0), diverging(0.0, 1.0), diverging(-2.0, 1.0)
    ((178, 24, 43), (190, 190, 190), (33, 102, 172))
    """
    if value is None:
        return _ZERO
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    end = _POSITIVE if t > 0 else _NEGATIVE
    return tuple(round(z + abs(t) * (e - z)) for z, e in zip(_ZERO, end))  # type: ignore[return-value]


def _scale(values: Sequence[float | None]) -> float:
    """The magnitude that gets the full colour: the largest |value| drawn (1 when there is none)."""
    finite = [abs(v) for v in values if v is not None]
    return max(finite) if finite and max(finite) > 0 else 1.0


def _text(
    draw: ImageDraw.ImageDraw,
    xy: Point,
    text: str,
    size: int = 12,
    fill: RGB = INK,
    anchor: str = "la",
    backdrop: bool = False,
) -> None:
    """Text at ``xy``; ``backdrop`` clears a white box under it first, so lines crossing it do not hide it."""
    if backdrop:
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=_font(size), anchor=anchor)
        draw.rectangle((x0 - 2, y0 - 1, x1 + 2, y1 + 1), fill=WHITE)
    draw.text(xy, text, font=_font(size), fill=fill, anchor=anchor)


def _badge(draw: ImageDraw.ImageDraw, centre: Point, number: int, outline: RGB = INK) -> None:
    """A slot or rank number in a white disc: readable on any patch."""
    x, y = centre
    r = 11 if number < 10 else 13
    draw.ellipse((x - r, y - r, x + r, y + r), fill=WHITE, outline=outline, width=2)
    _text(draw, (x, y), str(number), size=13, anchor="mm")


def _dashed(draw: ImageDraw.ImageDraw, p: Point, q: Point, fill: RGB, width: int = 1, dash: float = 6.0) -> None:
    """A dashed line (ImageDraw has none): an edge added by a script, whose weight is not learnt yet."""
    length = math.dist(p, q)
    steps = max(1, int(length // (2 * dash)))
    for i in range(steps):
        a, b = (2 * i) * dash / length, min(1.0, (2 * i + 1) * dash / length)
        draw.line(
            [
                (p[0] + a * (q[0] - p[0]), p[1] + a * (q[1] - p[1])),
                (p[0] + b * (q[0] - p[0]), p[1] + b * (q[1] - p[1])),
            ],
            fill=fill,
            width=width,
        )


def _arrow(draw: ImageDraw.ImageDraw, p: Point, q: Point, fill: RGB, width: int, dashed: bool = False) -> None:
    """A line from p to q with a filled head at q, sized to the line's width."""
    length = math.dist(p, q)
    if length < 1:
        return
    ux, uy = (q[0] - p[0]) / length, (q[1] - p[1]) / length
    head = min(length * 0.5, 9 + 2 * width)
    base = (q[0] - ux * head, q[1] - uy * head)
    if dashed:
        _dashed(draw, p, base, fill, width)
    else:
        draw.line([p, base], fill=fill, width=width)
    half = head * 0.45
    draw.polygon([q, (base[0] - uy * half, base[1] + ux * half), (base[0] + uy * half, base[1] - ux * half)], fill=fill)


def _colour_bar(draw: ImageDraw.ImageDraw, x: int, y: int, width: int, scale: float, caption: str) -> None:
    """The diverging scale with its end values, so a colour can be read back as a number."""
    for i in range(width):
        value = (2 * i / max(1, width - 1) - 1) * scale
        draw.line([(x + i, y), (x + i, y + 10)], fill=diverging(value, scale))
    draw.rectangle((x, y, x + width, y + 10), outline=FAINT)
    _text(draw, (x, y + 13), f"{-scale:+.3g}", size=11, fill=FAINT)
    _text(draw, (x + width // 2, y + 13), "0", size=11, fill=FAINT, anchor="ma")
    _text(draw, (x + width, y + 13), f"{scale:+.3g}", size=11, fill=FAINT, anchor="ra")
    _text(draw, (x, y - 17), caption, size=12, fill=INK)


def _patch(path: Path | None, size: int, concept_id: str) -> Image.Image:
    """The exemplar at ``size`` px, or a gray box with the concept id where there is no readable file."""
    if path is not None:
        try:
            with Image.open(path) as img:
                return img.convert("RGB").resize((size, size), Image.Resampling.NEAREST)
        except (OSError, ValueError):
            pass  # an unreadable exemplar is drawn like a missing one: the id still names the concept
    box = Image.new("RGB", (size, size), MISSING)
    draw = ImageDraw.Draw(box)
    for i, part in enumerate(concept_id.split("/")):
        _text(draw, (size // 2, size // 2 - 8 + 15 * i), part, size=11, anchor="mm")
    return box


def _patches_of(
    library: Library, concept_id: str, concepts_dir: Path, library_dir: Path | None, size: int, count: int
) -> list[Image.Image]:
    concept = library.concept(concept_id)
    paths = exemplar_files(concept.exemplars if concept else (), concepts_dir, library_dir)[:count]
    return [_patch(p, size, concept_id) for p in paths] or [_patch(None, size, concept_id)]


# -- hni show --png ---------------------------------------------------------------------------------


def _exit(dx: float, dy: float, below: float) -> float:
    """How far from a node's centre a line in direction (dx, dy) leaves its patch and the text under it."""
    half = PATCH / 2
    tx = half / abs(dx) if abs(dx) > 1e-9 else math.inf
    ty = (half + below if dy > 0 else half) / abs(dy) if abs(dy) > 1e-9 else math.inf
    return min(tx, ty) + 6


def _circle(k: int, centre: tuple[float, float], radius: float) -> list[tuple[float, float]]:
    """Slot positions clockwise from the top, so slot 1 is always at twelve o'clock."""
    if k == 1:
        return [centre]
    return [
        (centre[0] + radius * math.sin(2 * math.pi * i / k), centre[1] - radius * math.cos(2 * math.pi * i / k))
        for i in range(k)
    ]


def scg_picture(
    library: Library, entry: ClassEntry, concepts_dir: str | Path, library_dir: str | Path | None = None
) -> Picture:
    """The class's c-SCG: one exemplar patch per slot on a circle, arrows coloured and sized by e_ji."""
    concepts_dir = Path(concepts_dir)
    library_dir = Path(library_dir) if library_dir is not None else None
    nodes, edges = entry.graph.nodes, entry.graph.edges
    k = len(nodes)
    radius = max(150.0, 26.0 * k)
    top, bottom, margin = 56, 70, 70
    side = int(2 * radius + PATCH + 2 * margin)
    image = Image.new("RGB", (side, top + side + bottom), WHITE)
    draw = ImageDraw.Draw(image)
    centres = _circle(k, (side / 2, top + side / 2), radius)
    scale = _scale([e.weight for e in edges])
    pairs = {(e.src, e.dst) for e in edges}
    labels = [36 if (c := library.concept(cid)) is not None and c.label else 20 for cid in nodes]
    drawn = []
    for edge in sorted(edges, key=lambda e: abs(e.weight) if e.weight is not None else -1.0):  # strongest on top
        p, q = centres[edge.src - 1], centres[edge.dst - 1]
        length = math.dist(p, q)
        ux, uy = (q[0] - p[0]) / length, (q[1] - p[1]) / length
        shift = 7.0 if (edge.dst, edge.src) in pairs else 0.0  # the two directions of a pair side by side
        ox, oy = -uy * shift, ux * shift
        start, end = _exit(ux, uy, labels[edge.src - 1]), _exit(-ux, -uy, labels[edge.dst - 1])
        a = (p[0] + ux * start + ox, p[1] + uy * start + oy)
        b = (q[0] - ux * end + ox, q[1] - uy * end + oy)
        width = 1 + round(5 * abs(edge.weight) / scale) if edge.weight is not None else 1
        colour = diverging(edge.weight, scale)
        _arrow(draw, a, b, colour, width, dashed=edge.weight is None)
        if edge.weight is not None:  # beside the line (clear of it whatever its angle), on its own side
            label = f"{edge.weight:+.2f}"
            gap = shift + abs(uy) * _font(11).getlength(label) / 2 + abs(ux) * 6 + 3
            mid = (a[0] + 0.4 * (b[0] - a[0]) - uy * gap, a[1] + 0.4 * (b[1] - a[1]) + ux * gap)
            _text(draw, mid, label, size=11, fill=colour, anchor="mm")
        drawn.append((edge.src, edge.dst, edge.weight))
    layout = []
    for slot, (concept_id, (cx, cy)) in enumerate(zip(nodes, centres), start=1):
        box = (round(cx - PATCH / 2), round(cy - PATCH / 2), round(cx + PATCH / 2), round(cy + PATCH / 2))
        image.paste(_patches_of(library, concept_id, concepts_dir, library_dir, PATCH, 1)[0], box[:2])
        draw.rectangle((box[0] - 1, box[1] - 1, box[2], box[3]), outline=INK, width=2)
        _badge(draw, (box[0], box[1]), slot)
        _text(draw, (cx, box[3] + 4), concept_id, size=12, anchor="ma", backdrop=True)
        concept = library.concept(concept_id)
        if concept is not None and concept.label:
            _text(draw, (cx, box[3] + 19), f'"{concept.label}"', size=11, fill=FAINT, anchor="ma", backdrop=True)
        layout.append(Placed(slot, concept_id, box))
    kind = f"network output {entry.output_index}" if entry.output_index is not None else "defined"
    _text(draw, (14, 12), f"{entry.name}: c-SCG, {k} concepts, {len(edges)} edges ({kind})", size=16)
    _text(draw, (14, 33), "numbers are the slots of edit scripts (`concept N`)", size=11, fill=FAINT)
    _colour_bar(
        draw,
        14,
        top + side + 36,
        180,
        scale,
        "learnt edge weight e_ji (colour; width by |e_ji|)"
        + ("; dashed: not learnt yet" if any(e.weight is None for e in edges) else ""),
    )
    if not edges:
        _text(draw, (side / 2, top + side / 2), "no edges", size=13, fill=FAINT, anchor="mm")
    return Picture(image, layout, drawn)


def pool_picture(
    library: Library, entry: ClassEntry, concepts_dir: str | Path, library_dir: str | Path | None = None
) -> Picture:
    """The ranked pool as a grid: one row per `pool[N]`, its importance, up to six exemplar patches."""
    concepts_dir = Path(concepts_dir)
    library_dir = Path(library_dir) if library_dir is not None else None
    slots = {concept: i for i, concept in enumerate(entry.graph.nodes, start=1)}
    label_width, gap, row_height, top = POOL_LABELS, 6, POOL_PATCH + 10, 52
    width = label_width + POOL_EXEMPLARS * (POOL_PATCH + gap) + 10
    image = Image.new("RGB", (width, top + row_height * max(1, len(entry.pool)) + 10), WHITE)
    draw = ImageDraw.Draw(image)
    _text(draw, (10, 10), f"{entry.name}: pool of {len(entry.pool)} concepts, ranked by importance", size=16)
    _text(
        draw, (10, 31), "`pool[N]` in edit scripts; highlighted rows are c-SCG nodes (`concept i`)", size=11, fill=FAINT
    )
    layout = []
    for rank, concept in enumerate(entry.pool, start=1):
        y = top + (rank - 1) * row_height
        row = (0, y, width, y + row_height)
        if concept.id in slots:
            draw.rectangle(row, fill=HIGHLIGHT)
        draw.line([(0, row[3] - 1), (width, row[3] - 1)], fill=(225, 225, 225))
        _text(draw, (10, y + 6), f"pool[{rank}]", size=15)
        _text(draw, (10, y + 26), concept.id + (f' "{concept.label}"' if concept.label else ""), size=12)
        drop = f", drop {concept.logit_drop:+.2f}" if concept.logit_drop is not None else ""
        _text(draw, (10, y + 43), f"importance {concept.importance:.3f}{drop}", size=11, fill=FAINT)
        if concept.id in slots:
            _text(
                draw,
                (label_width - 12, y + 6),
                f"= concept {slots[concept.id]}",
                size=13,
                fill=(150, 90, 0),
                anchor="ra",
            )
        for i, patch in enumerate(
            _patches_of(library, concept.id, concepts_dir, library_dir, POOL_PATCH, POOL_EXEMPLARS)
        ):
            image.paste(patch, (label_width + i * (POOL_PATCH + gap), y + 5))
        layout.append(Placed(rank, concept.id, row))
    return Picture(image, layout)


def _free_corner(box: Box, taken: list[Point], bounds: Box) -> Point:
    """A corner of ``box`` for its number, away from numbers already drawn (segments often share corners)."""
    x0, y0, x1, y1 = box
    inset = 12
    corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
    clamp = [
        (min(max(x, bounds[0] + inset), bounds[2] - inset), min(max(y, bounds[1] + inset), bounds[3] - inset))
        for x, y in corners
    ]
    for where in clamp:
        if all(math.dist(where, t) >= 24 for t in taken):
            return where
    x, y = clamp[0]
    while any(math.dist((x, y), t) < 24 for t in taken) and x + 24 <= bounds[2] - inset:
        x += 24
    return (x, y)


# -- hni explain --png ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainedNode:
    """One slot of an explained class graph: its matched segment (normalised box and centre) or None if absent."""

    slot: int
    concept_id: str
    value: float
    box: tuple[float, float, float, float] | None = None
    centre: tuple[float, float] | None = None


@dataclass(frozen=True)
class ExplainPanel:
    """One question ("why X", "why not Y"): its graph's nodes and edges (1-based slots) with contributions."""

    title: str
    nodes: tuple[ExplainedNode, ...]
    edges: tuple[tuple[int, int, float], ...]


def explain_picture(
    image: np.ndarray, panels: Sequence[ExplainPanel], header: str, size: int = EXPLAIN_SIZE
) -> Picture:
    """The image once per panel, matched concepts outlined and numbered by slot, coloured by contribution.

    One scale serves every panel, so the same colour means the same contribution in "why" and "why not".
    Edges are drawn between matched nodes only (an absent node has no place in the image).
    """
    scale = _scale([n.value for p in panels for n in p.nodes] + [v for p in panels for s, d, v in p.edges])
    base = (
        Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB").resize((size, size), Image.Resampling.NEAREST)
    )
    margin, top, line = 14, 52, 16
    caption = line * (2 + max((len(p.nodes) for p in panels), default=0))
    width = max(margin + len(panels) * (size + margin), round(_font(14).getlength(header)) + 2 * margin)
    out = Image.new("RGB", (width, top + size + caption + 64), WHITE)
    draw = ImageDraw.Draw(out)
    _text(draw, (margin, 10), header, size=14)
    _text(
        draw,
        (margin, 30),
        "outlines: matched concepts, numbered by slot; lines: edges between them",
        size=11,
        fill=FAINT,
    )
    layout: list[Placed] = []
    drawn: list[tuple[int, int, float | None]] = []
    frames: list[tuple[int, int, int, int]] = []
    for k, panel in enumerate(panels):
        x0 = margin + k * (size + margin)
        out.paste(base, (x0, top))
        frames.append((x0, top, x0 + size, top + size))
        px = {n.slot: n for n in panel.nodes if n.box is not None}
        for src, dst, value in sorted(panel.edges, key=lambda e: abs(e[2])):
            if src in px and dst in px:
                src_centre, dst_centre = px[src].centre, px[dst].centre
                assert src_centre is not None and dst_centre is not None  # a matched node (with a box) has a centre
                p = (x0 + src_centre[0] * size, top + src_centre[1] * size)
                q = (x0 + dst_centre[0] * size, top + dst_centre[1] * size)
                _arrow(draw, p, q, diverging(value, scale), 2 + round(3 * abs(value) / scale))
                drawn.append((src, dst, value))
        badges: list[tuple[float, float]] = []
        for node in sorted(px.values(), key=lambda n: abs(n.value)):
            b = node.box
            assert b is not None  # px holds the matched nodes only
            box = (
                round(x0 + b[0] * size),
                round(top + b[1] * size),
                round(x0 + b[2] * size) - 1,
                round(top + b[3] * size) - 1,
            )
            draw.rectangle(box, outline=diverging(node.value, scale), width=3)
            layout.append(Placed(node.slot, node.concept_id, box, panel=k))
        for placed in layout:  # numbers after every outline, so no outline hides one
            if placed.panel == k:
                value = px[placed.number].value
                where = _free_corner(placed.box, badges, (x0, top, x0 + size, top + size))
                badges.append(where)
                _badge(draw, where, placed.number, outline=diverging(value, scale))
        y = top + size + 8
        _text(draw, (x0, y), panel.title, size=13)
        for node in panel.nodes:
            y += line
            shown = f"{node.value:+.3f}" if node.box is not None else f"{node.value:+.3f} (absent)"
            draw.rectangle((x0, y + 2, x0 + 10, y + 12), fill=diverging(node.value, scale))
            _text(draw, (x0 + 16, y), f"concept {node.slot}  {node.concept_id}  {shown}", size=11)
    layout.sort(key=lambda p: (p.panel, p.number))
    _colour_bar(draw, margin, out.height - 32, 160, scale, "contribution to the class score (VRX eq. 5-6)")
    return Picture(out, layout, drawn, frames)

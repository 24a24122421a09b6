"""One class's section of `hni report`: its c-SCG with the edges' weights and drops, its pool with the
evidence for each concept (importance by deletion, interval, p-value, stability, TCAV), each concept in
its images, and the network's errors by concept. Also the small HTML helpers the report shares."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

from hni_dsl.checker import concept_origin
from hni_dsl.library import ClassEntry, Library
from hni_engine.present import pictures
from hni_engine.present.exemplars import context_file
from hni_engine.present.report_inputs import ReportInputs

__all__ = ["class_anchor", "class_section", "esc", "img", "method_note", "num", "pts"]

CARD_WIDTH = 900  # px; a concept card larger than this (a hand-made library's) is scaled down


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(picture: pictures.Picture) -> str:
    return "data:image/png;base64," + base64.b64encode(picture.png_bytes()).decode("ascii")


def img(picture: pictures.Picture, alt: str) -> str:
    return (
        f'<img src="{_data_uri(picture)}" alt="{esc(alt)}" width="{picture.image.width}" '
        f'height="{picture.image.height}">'
    )


def _contextimg(path: Path, alt: str) -> str:
    """A concept card from the concepts folder, decoded and re-encoded (never embedded as raw bytes)."""
    try:
        with Image.open(path) as opened:
            card = opened.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):  # a hand-made library names anything
        return f'<p class="muted">{esc(alt)}: picture unreadable</p>'
    card.thumbnail((CARD_WIDTH, CARD_WIDTH))
    buffer = io.BytesIO()
    card.save(buffer, format="JPEG", quality=85)
    uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="card" src="{uri}" alt="{esc(alt)}" width="{card.width}" height="{card.height}">'


def _context_cards(inputs: ReportInputs, entry: ClassEntry) -> str:
    """Each pool concept in its images; the c-SCG's nodes shown, the rest folded."""
    nodes: list[str] = []
    rest: list[str] = []
    for rank, concept in enumerate(entry.pool, start=1):
        path = context_file(concept, inputs.ws.concepts_dir, inputs.library_path.parent)
        if path is None:
            continue
        alt = f"pool[{rank}] {concept.id} in its images"
        (nodes if concept.id in entry.graph.nodes else rest).append(_contextimg(path, alt))
    if not nodes and not rest:
        return ""
    folded = (
        f"<details><summary>the other {len(rest)} pool concepts in context</summary>{''.join(rest)}</details>"
        if rest
        else ""
    )
    return "<h3>Concepts in their images</h3>\n" + "".join(nodes) + folded


def num(value: float | None, digits: int = 3) -> str:
    return "&ndash;" if value is None else f"{value:.{digits}f}"


def pts(change: float | None) -> str:
    return "&ndash;" if change is None else f"{100 * change:+.1f}"


def class_anchor(index: int) -> str:
    return f"class-{index + 1}"


def _pool_table(entry: ClassEntry) -> str:
    slots = {concept: i for i, concept in enumerate(entry.graph.nodes, start=1)}
    rows = []
    for rank, c in enumerate(entry.pool, start=1):
        node = f"= concept {slots[c.id]}" if c.id in slots else ""
        label = f" &ldquo;{esc(c.label)}&rdquo;" if c.label else ""
        cells = [
            f"pool[{rank}]",
            f"<code>{esc(c.id)}</code>{label}",
            f"{c.importance:.3f}",
            "&ndash;" if c.logit_drop is None else f"{c.logit_drop:+.2f}",
            "&ndash;" if c.interval is None else f"[{c.interval[0]:+.2f}, {c.interval[1]:+.2f}]",
            "&ndash;" if c.p_value is None else ("&lt; 0.001" if c.p_value < 0.0005 else f"{c.p_value:.3f}"),
            "&ndash;" if c.tcav is None else f"{c.tcav:.2f}",
            "&ndash;" if c.stable is None else ("yes" if c.stable else "no"),
            "&ndash;" if c.images is None else str(c.images),
            node,
        ]
        rows.append(
            f'<tr class="{"node" if node else "pool"}">'
            + "".join(f'<td class="n">{v}</td>' if 2 <= k <= 8 else f"<td>{v}</td>" for k, v in enumerate(cells))
            + "</tr>"
        )
    if not rows:
        rows.append(
            '<tr><td colspan="10" class="muted">no pool concepts (a defined class: its concepts come from '
            "other classes, see its c-SCG)</td></tr>"
        )
    head = (
        '<thead><tr><th>pool[N]</th><th>id</th><th class="n">importance</th><th class="n">logit drop</th>'
        '<th class="n">95% interval</th><th class="n">p-value</th><th class="n">TCAV</th><th class="n">stable</th>'
        '<th class="n">images</th><th>c-SCG</th></tr></thead>'
    )
    return f'<table class="pool">\n{head}\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"


def _errors_table(entry: ClassEntry) -> str:
    """Per-concept error analysis (ConceptExtract): the network's test accuracy with and without each concept."""
    rows = []
    for rank, c in enumerate(entry.pool, start=1):
        e = c.errors
        if e is None:
            continue
        gap = (
            e.accuracy_with - e.accuracy_without
            if e.accuracy_with is not None and e.accuracy_without is not None
            else None
        )
        confusions = ", ".join(f"{esc(x.true)}&rarr;{esc(x.predicted)} ({x.images})" for x in e.confusions)
        rows.append(
            f"<tr><td>pool[{rank}]</td><td><code>{esc(c.id)}</code></td>"
            f'<td class="n">{num(e.accuracy_with, 2)} ({e.images_with})</td>'
            f'<td class="n">{num(e.accuracy_without, 2)} ({e.images_without})</td>'
            f'<td class="n {"down" if gap is not None and gap < 0 else ""}">{pts(gap)}</td>'
            f"<td>{confusions or '&ndash;'}</td></tr>"
        )
    if not rows:
        return ""
    head = (
        '<thead><tr><th>pool[N]</th><th>id</th><th class="n">accuracy with it (images)</th>'
        '<th class="n">without it (images)</th><th class="n">difference (pts)</th>'
        "<th>confusions among images with it</th></tr></thead>"
    )
    return (
        "<h3>Network errors by concept</h3>\n"
        '<p class="muted">the network\'s accuracy on held-out test images in which the concept is found, '
        "and on those in which it is not</p>\n"
        f'<table class="errors">\n{head}\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _graph_table(library: Library, entry: ClassEntry) -> str:
    rows = []
    for slot, cid in enumerate(entry.graph.nodes, start=1):
        rows.append(
            f"<tr><td>concept {slot}</td><td><code>{esc(cid)}</code></td>"
            f"<td>{esc(concept_origin(library, entry, cid))}</td></tr>"
        )
    nodes = (
        '<table class="nodes">\n<thead><tr><th>slot</th><th>concept</th><th>where from</th></tr></thead>\n'
        "<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )
    edges = sorted(entry.graph.edges, key=lambda e: (-abs(e.weight or 0.0), e.src, e.dst))
    if not edges:
        return nodes + "\n<p>edges: none</p>"
    rows = [
        f'<tr><td>{e.src}&rarr;{e.dst}</td><td class="n">{num(e.weight)}</td><td class="n">{num(e.drop)}</td></tr>'
        for e in edges
    ]
    weights = sorted(abs(e.weight) for e in edges if e.weight is not None)
    spread = (
        f'<p class="muted">|e_ji| from {weights[0]:.3f} to {weights[-1]:.3f}, median {weights[len(weights) // 2]:.3f}; '
        "drop: the class's GRN score lost on its held-out images when the edge is removed</p>"
        if weights
        else ""
    )
    return (
        nodes
        + '\n<table class="edges">\n<thead><tr><th>edge</th><th class="n">weight e_ji</th>'
        + '<th class="n">drop when removed</th></tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
        + spread
    )


def class_section(inputs: ReportInputs, index: int, entry: ClassEntry, comparison: str = "") -> str:
    """``comparison``: the run's before/after part for the class (hni_engine.present.report_compare)."""
    library, concepts_dir, library_dir = inputs.library, inputs.ws.concepts_dir, inputs.library_path.parent
    scg = pictures.scg_picture(library, entry, concepts_dir, library_dir)
    pool = pictures.pool_picture(library, entry, concepts_dir, library_dir)
    kind = f"network output {entry.output_index}" if entry.output_index is not None else "no network output"
    defined = " (defined class)" if entry.defined is not None else ""
    return "\n".join(
        [
            f'<section class="class" id="{class_anchor(index)}">',
            f"<h2>{esc(entry.name)}{defined}</h2>",
            f'<p class="muted">{esc(kind)}; c-SCG with {len(entry.graph.nodes)} concepts and '
            f"{len(entry.graph.edges)} edges; pool of {len(entry.pool)} concepts</p>",
            "<h3>c-SCG</h3>",
            img(scg, f"c-SCG of {entry.name}"),
            _graph_table(library, entry),
            comparison,
            "<h3>Pool</h3>",
            _pool_table(entry),
            img(pool, f"pool of {entry.name}"),
            _context_cards(inputs, entry),
            _errors_table(entry),
            "</section>",
        ]
    )


def method_note(library: Library) -> str:
    """How the pool's numbers were measured, as the library records it (nothing for a hand-made library)."""
    method = library.meta.get("importance")
    if not isinstance(method, dict):
        return ""
    names = {"importance": "Importance", "interval": "Interval", "p_value": "p-value"}
    items = "".join(
        f"<li><b>{names[key]}</b>: {esc(method[key])}</li>" for key in names if isinstance(method.get(key), str)
    )
    return f'<section id="method"><h2>How the evidence is measured</h2><ul>{items}</ul></section>'

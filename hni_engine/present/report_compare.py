"""The report's "before and after" part of a class section: what the run did to the class's reasoning, as
`hni apply` measured it on both networks (the run's compare.json, hni_engine.edit.comparison).

Edges are matched by the concepts they join, not by slot, so an edge keeps its row when a replaced node
moves it to another slot.
"""

from __future__ import annotations

from typing import Any

from hni_dsl.library import ClassEntry, Library
from hni_engine.present.report_class import esc, num, pts
from hni_engine.present.report_inputs import ReportInputs

__all__ = ["BAR_WIDTH", "comparison_part"]

BAR_WIDTH = 120  # px of the largest importance shown in a class's table


def _label(library: Library, cid: str) -> str:
    concept = library.concept(cid)
    return f" &ldquo;{esc(concept.label)}&rdquo;" if concept is not None and concept.label else ""


def _bar(value: float | None, top: float, side: str) -> str:
    if value is None or top <= 0:
        return ""
    width = max(1, round(BAR_WIDTH * abs(value) / top))
    sign = "neg" if value < 0 else side
    return f'<span class="bar {sign}" style="width:{width}px"></span>'


def _drop(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:+.2f}"


def _importance_rows(library: Library, found: dict[str, Any]) -> list[str]:
    before, after = (set(nodes) for nodes in found["nodes"])
    values = [abs(v) for pair in found["importance"].values() for v in pair if v is not None]
    top = max(values, default=0.0)
    rows = []
    for cid, (a, b) in found["importance"].items():
        where = "/".join(side for side, nodes in (("before", before), ("after", after)) if cid in nodes)
        change = "&ndash;" if a is None or b is None else f"{b - a:+.2f}"
        rows.append(
            f"<tr><td><code>{esc(cid)}</code>{_label(library, cid)}</td><td>{where}</td>"
            f'<td class="n">{_drop(a)}</td><td class="n">{_drop(b)}</td><td class="n">{change}</td>'
            f"<td>{_bar(a, top, 'before')}<br>{_bar(b, top, 'after')}</td></tr>"
        )
    return rows


def _edge_rows(library: Library, found: dict[str, Any]) -> list[str]:
    """One row per pair of concepts joined on either side; the slots are shown as each side numbers them."""
    joined: dict[tuple[str, str], list[tuple[str, float | None] | None]] = {}
    for side, (nodes, edges) in enumerate(zip(found["nodes"], found["edges"])):
        for key, weight in edges.items():
            slot_from, slot_to = (int(v) for v in key.split("->"))
            if not (1 <= slot_from <= len(nodes) and 1 <= slot_to <= len(nodes)):
                continue  # a slot the side's c-SCG does not have: nothing to name it by
            pair = (nodes[slot_from - 1], nodes[slot_to - 1])
            joined.setdefault(pair, [None, None])[side] = (key, weight)
    rows = []
    for (src, dst), sides in joined.items():
        cells = []
        for found_side in sides:
            if found_side is None:
                cells.append('<td class="n">&ndash;</td>')
            else:
                key, weight = found_side
                cells.append(f'<td class="n">{num(weight)} <span class="muted">({esc(key)})</span></td>')
        rows.append(f"<tr><td><code>{esc(src)}</code> &rarr; <code>{esc(dst)}</code></td>{''.join(cells)}</tr>")
    return rows


def comparison_part(inputs: ReportInputs, entry: ClassEntry) -> str:
    """The class's before/after tables, or nothing when the report shows no run or the run recorded none."""
    run = inputs.run
    if run is None or run.comparison is None:
        return ""
    found = next((c for c in run.comparison["classes"] if c["name"] == entry.name), None)
    if found is None:
        return ""
    a, b = found["accuracy"]
    accuracy = f"test accuracy {num(a)} &rarr; {num(b)}" + (
        f" ({pts(b - a)} pts)" if a is not None and b is not None else ""
    )
    parts = [
        f"<h3>Before and after run {esc(run.run_id)}</h3>",
        f'<p class="comparison">{accuracy}. Both sides are measured on their own network: the extraction\'s '
        "(before) and this run's (after).</p>",
    ]
    importance = _importance_rows(inputs.library, found)
    if importance:
        parts.append(
            '<table class="compare-importance"><thead><tr><th>concept</th><th>in c-SCG</th>'
            '<th class="n">drop before</th><th class="n">drop after</th><th class="n">change</th>'
            "<th>before / after</th></tr></thead><tbody>" + "".join(importance) + "</tbody></table>"
        )
        parts.append(
            "<p class=\"muted\">drop: the class logit's mean drop when the concept's patches are erased in the "
            "class's discovery images (grey: before, green: after, red: negative)</p>"
        )
    edges = _edge_rows(inputs.library, found)
    if edges:
        parts.append(
            '<table class="compare-edges"><thead><tr><th>edge</th><th class="n">weight before (slots)</th>'
            '<th class="n">weight after (slots)</th></tr></thead><tbody>' + "".join(edges) + "</tbody></table>"
        )
    return "\n".join(parts)

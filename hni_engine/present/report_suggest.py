"""The report's suggestions: what `hni suggest` drafts for the report's classes, one card per finding, so a
reviewer can accept or reject each on the page.

The findings and the script come from the command's own call (:func:`hni_engine.present.suggest_script.suggest`),
never from a second reading of the evidence, so the page and the script cannot disagree. Each card gives the
finding's reason in numbers, its statement and how the script writes it (a statement, a commented-out guess,
or left out because it does not check beside the others), and its picture: for an edge finding, the edges
on the class's c-SCG, marked; for a concept finding, the concepts in their images (the class sections' own
cards, reused as drawn, not drawn again).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser

from PIL import Image, ImageDraw

from hni_dsl import parse
from hni_dsl.ast import AddEdge, ClassBlock, DefineClass, DropAllEdges, DropEdge, Node
from hni_dsl.errors import HniError
from hni_dsl.formatter import format_class_name
from hni_engine.present import pictures
from hni_engine.present.report_class import class_anchor, esc, img
from hni_engine.present.report_inputs import ReportInputs
from hni_engine.present.suggest_script import Suggestions, suggest
from hni_engine.present.suggestions import Finding

__all__ = ["SECTION_ID", "card_tags", "draft", "edge_picture", "suggestions_section"]

SECTION_ID = "suggestions"
MARK = (255, 170, 0)  # the suggested edge and its ends: a colour the edge-weight scale never uses
_CARD_ALT = re.compile(r"^pool\[\d+\] (\S+) in its images$")  # report_class's alt text for a concept card
_NAMED_EDGE = re.compile(r"\bedge (\d+)->(\d+)")  # an edge a reason names, in the language's syntax


def draft(inputs: ReportInputs) -> Suggestions:
    """`hni suggest` on the report's classes, against the network the report shows (the run's metrics, else
    model/base.json, as the command reads them); nothing when only defined classes are shown."""
    names = [e.name for e in inputs.entries if e.defined is None]
    if not names:
        return Suggestions("", [])
    results = inputs.run.folder / "metrics.json" if inputs.run is not None else inputs.ws.root / "model" / "base.json"
    return suggest(inputs.library, results, names)


class _Cards(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        match = _CARD_ALT.match(found.get("alt") or "")
        if tag == "img" and found.get("class") == "card" and match:
            self.found.setdefault(match.group(1), self.get_starttag_text() or "")


def card_tags(sections_html: str) -> dict[str, str]:
    """concept id -> the `<img>` of its card in the class sections: the same picture, not drawn twice."""
    parser = _Cards()
    parser.feed(sections_html)
    parser.close()
    return parser.found


def _edits(text: str) -> list[tuple[str | None, Node]]:
    """(class, edit) for each statement ``text`` holds as code, not as a comment; (None, define) for a definition."""
    try:
        script = parse(text)
    except HniError:
        return []
    out: list[tuple[str | None, Node]] = []
    for statement in script.statements:
        if isinstance(statement, ClassBlock):
            out += [(statement.cls.name, edit) for edit in statement.edits]
        elif isinstance(statement, DefineClass):
            out.append((None, statement))
    return out


def _finding_edits(finding: Finding) -> list[tuple[str | None, Node]]:
    if finding.statement is None:
        return []
    if finding.detector == "define":
        return _edits(finding.statement + "\n")
    return _edits(f"class {format_class_name(finding.class_name)}: {finding.statement}\n")


def _status(finding: Finding, written: Sequence[tuple[str | None, Node]]) -> str:
    """How the drafted script carries the finding, in the script's own terms."""
    if finding.statement is None:
        return "informs only: no edit proposed"
    edits = _finding_edits(finding)
    if edits and all(item in written for item in edits):
        return "written in the script as a statement"
    if finding.confidence == "low":
        return "too little evidence: written commented out; take it by removing its <code>#</code>"
    return "commented out in the script: it does not check beside the other suggestions"


def _edges(inputs: ReportInputs, finding: Finding) -> list[tuple[int, int]] | None:
    """The c-SCG edges (src, dst) a finding is about, None when it is not about edges: those its statement adds
    or drops; for `drop edges *`, those its reason names as the language writes them (`2->3`), else all."""
    edges: list[tuple[int, int]] = []
    about = False
    for _, edit in _finding_edits(finding):
        if isinstance(edit, AddEdge | DropEdge):
            about = True
            edges.append((edit.edge.src.index, edit.edge.dst.index))
        elif isinstance(edit, DropAllEdges):
            about = True
            named = [(int(a), int(b)) for a, b in _NAMED_EDGE.findall(finding.reason)]
            entry = inputs.library.get(finding.class_name)
            edges += named or [(e.src, e.dst) for e in (entry.graph.edges if entry is not None else ())]
    return list(dict.fromkeys(edges)) if about else None


def edge_picture(inputs: ReportInputs, class_name: str, edges: Sequence[tuple[int, int]]) -> pictures.Picture | None:
    """The class's c-SCG as its section draws it, with ``edges`` (src, dst) and their ends marked; an edge whose
    slot the graph lacks is left unmarked, not guessed."""
    entry = inputs.library.get(class_name)
    if entry is None:
        return None
    picture = pictures.scg_picture(inputs.library, entry, inputs.ws.concepts_dir, inputs.library_path.parent)
    boxes = {placed.number: placed.box for placed in picture.layout}
    drawn = [(boxes[a], boxes[b]) for a, b in edges if a in boxes and b in boxes]
    if not drawn:
        return picture
    overlay = Image.new("RGBA", picture.image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for ends in drawn:
        centres = [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in ends]
        draw.line(centres, fill=(*MARK, 110), width=16)  # translucent: the edge's own arrow stays readable
    for x0, y0, x1, y1 in {box for ends in drawn for box in ends}:
        draw.rectangle((x0 - 6, y0 - 6, x1 + 5, y1 + 5), outline=(*MARK, 255), width=5)
    marked = Image.alpha_composite(picture.image.convert("RGBA"), overlay).convert("RGB")
    return pictures.Picture(marked, picture.layout, picture.edges)


def _pictures(inputs: ReportInputs, finding: Finding, cards: Mapping[str, str]) -> list[str]:
    """An edge finding: its edges on the class's graph; a concept finding: its concepts' cards."""
    edges = _edges(inputs, finding)
    if edges is not None:
        picture = edge_picture(inputs, finding.class_name, edges)
        named = ", ".join(f"{a}->{b}" for a, b in edges)
        alt = f"c-SCG of {finding.class_name}, edge{'s' if len(edges) > 1 else ''} {named} marked"
        return [img(picture, alt)] if picture is not None else []
    out = [cards[cid] for cid in finding.concepts if cid in cards]
    missing = [cid for cid in finding.concepts if cid not in cards]
    if missing:
        out.append(
            f'<p class="muted">no picture in context for {esc(", ".join(missing))} '
            "(extraction drew none); see the pool table</p>"
        )
    return out


def _card(
    number: int,
    finding: Finding,
    inputs: ReportInputs,
    cards: Mapping[str, str],
    written: Sequence[tuple[str | None, Node]],
) -> str:
    index = next((i for i, e in enumerate(inputs.entries) if e.name == finding.class_name), None)
    name = esc(finding.class_name)
    where = f'<a href="#{class_anchor(index)}">{name}</a>' if index is not None else name
    statement = (
        f"<p>proposes <code>{esc(finding.statement)}</code>: {_status(finding, written)}</p>"
        if finding.statement is not None
        else f"<p>{_status(finding, written)}</p>"
    )
    shown = _pictures(inputs, finding, cards)
    return "\n".join(
        [
            f'<article class="suggestion {esc(finding.confidence)}" id="suggestion-{number}" '
            f'data-class="{name}" data-detector="{esc(finding.detector)}">',
            f"<h3>{number}. {where}: {esc(finding.detector)}, {esc(finding.confidence)} confidence</h3>",
            f'<p class="reason">{esc(finding.reason)}</p>',
            statement,
            f'<div class="pictures">{"".join(shown)}</div>' if shown else "",
            "</article>",
        ]
    )


def suggestions_section(inputs: ReportInputs, drafted: Suggestions, cards: Mapping[str, str]) -> str:
    """The section: a count by confidence, one card per finding, then the script exactly as the command writes it."""
    findings = drafted.findings
    counts = {c: sum(f.confidence == c for f in findings) for c in ("high", "medium", "low")}
    parts = [
        f'<section id="{SECTION_ID}"><h2>Suggestions</h2>',
        '<p class="muted">what <code>hni suggest</code> drafts for these classes from the evidence alone '
        "(deletion importance, p-values, stability, the network's errors by concept); nothing has been "
        "applied. Accept one by keeping its line in an edit script, reject it by deleting it.</p>",
    ]
    if not findings:
        parts.append("<p>No suggestions: no detector found anything in these classes' evidence.</p>")
    else:
        parts.append(
            f"<p>{len(findings)} suggestions: {counts['high']} high, {counts['medium']} medium and "
            f"{counts['low']} low confidence</p>"
        )
        written = _edits(drafted.text)
        parts += [_card(n, f, inputs, cards, written) for n, f in enumerate(findings, start=1)]
        parts.append(
            "<details><summary>the script <code>hni suggest</code> writes for these classes</summary>"
            f'<pre id="suggested-script">{esc(drafted.text)}</pre></details>'
        )
    parts.append("</section>")
    return "\n".join(parts)

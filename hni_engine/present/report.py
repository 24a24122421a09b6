"""`hni report`: one self-contained HTML file of a workspace's concepts and, when there is one, of a run.

Everything is inside the file: pictures (from :mod:`hni_engine.present.pictures`) as base64 PNG data URIs, a little
inline CSS, no scripts, fonts or links to anything outside it, so it can be mailed or attached to a review.
The same inputs give the same bytes (no dates, no absolute times), so a report can be committed and diffed.

Torch-free: it reads the library, extract.json and the run folder's JSON and text files only (gathered and
checked in :mod:`hni_engine.present.report_inputs`), and for its suggestions what `hni suggest` reads
(:mod:`hni_engine.present.report_suggest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hni_dsl.fileio import InputFileError, atomic_write_text
from hni_engine.present.report_class import class_anchor, class_section, esc, method_note, num, pts
from hni_engine.present.report_compare import comparison_part
from hni_engine.present.report_inputs import ReportInputs, RunView, check_report_output, gather, parse_classes
from hni_engine.present.report_suggest import SECTION_ID, card_tags, draft, suggestions_section
from hni_engine.present.suggest_script import Suggestions
from hni_engine.store.preflight import before_report
from hni_engine.store.workspace import Workspace

__all__ = ["ReportInputs", "RunView", "check_report_output", "gather", "parse_classes", "render", "write_report"]

MAX_WIDTH = 1100  # px; pictures wider than the page are scaled down by CSS


# -- HTML pieces ----------------------------------------------------------------------------------


def _short(sha: object) -> str:
    return str(sha)[:12] if sha else "unknown"


CSS = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1e1e1e;
       background: #fff; margin: 0; line-height: 1.4; }}
main {{ max-width: {MAX_WIDTH}px; margin: 0 auto; padding: 16px 24px 48px; }}
h1 {{ font-size: 1.6em; margin: 0.4em 0; }}
h2 {{ border-bottom: 2px solid #ccc; padding-bottom: 4px; margin-top: 2em; }}
h3 {{ margin-top: 1.4em; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }}
th, td {{ border: 1px solid #999; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.node td {{ background: #fff4cc; }}
tr.edited td {{ background: #fff4cc; }}
.up {{ color: #1a7f37; }} .down {{ color: #b2182b; }}
table.confusion td {{ text-align: right; min-width: 2.2em; font-variant-numeric: tabular-nums; }}
table.confusion td.diag {{ outline: 2px solid #1e1e1e; outline-offset: -2px; }}
pre {{ background: #f6f6f6; border: 1px solid #ccc; padding: 8px 10px; overflow-x: auto; font-size: 0.9em; }}
img {{ max-width: 100%; height: auto; border: 1px solid #ddd; display: block; margin: 8px 0; }}
.muted {{ color: #666; font-size: 0.9em; }}
nav ul {{ columns: 3; }}
.bar {{ display: inline-block; height: 0.7em; background: #999; }}
.bar.after {{ background: #1a7f37; }} .bar.neg {{ background: #b2182b; }}
.suggestion {{ border-left: 5px solid #999; padding: 2px 0 2px 14px; margin: 18px 0; }}
.suggestion.high {{ border-color: #b2182b; }} .suggestion.medium {{ border-color: #ffaa00; }}
.suggestion .pictures {{ display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }}
"""


def _header(inputs: ReportInputs) -> str:
    ws, run, extract = inputs.ws, inputs.run, inputs.extract
    fidelity = extract.get("fidelity_test")
    extracted_sha = extract.get("model_sha256") or inputs.library.meta.get("extracted_model_sha256")
    rows = [
        ("workspace", f"<code>{esc(ws.root)}</code>"),
        ("library", f"<code>{esc(inputs.library_path)}</code> ({len(inputs.library.classes)} classes)"),
    ]
    if run is not None:
        network = run.provenance.get("model_sha256") or inputs.library.meta.get("model_sha256")
        rows.append(("network", f"run <code>{esc(run.run_id)}</code>, sha256 <code>{esc(_short(network))}</code>"))
        rows.append(("extracted from", f"network sha256 <code>{esc(_short(extracted_sha))}</code>"))
    else:
        rows.append(("network", f"the extracted network, sha256 <code>{esc(_short(extracted_sha))}</code>"))
    rows.append(
        (
            "GRN fidelity",
            (f"{fidelity:.3f}" if isinstance(fidelity, (int, float)) else "unknown")
            + ' <span class="muted">(top-1 agreement of the GRN with the network on held-out images, '
            "concepts/extract.json)</span>",
        )
    )
    rows += [("note", esc(n)) for n in inputs.notes]
    rows += [("warning", esc(w.removeprefix("warning: "))) for w in inputs.warnings]
    body = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<h1>hni report</h1>\n<table class="header">\n{body}\n</table>'


def _contents(inputs: ReportInputs) -> str:
    items = []
    if inputs.run is not None:
        items.append(f'<li><a href="#run">run {esc(inputs.run.run_id)}</a></li>')
    items.append(f'<li><a href="#{SECTION_ID}">suggestions</a></li>')
    items += [f'<li><a href="#{class_anchor(i)}">{esc(e.name)}</a></li>' for i, e in enumerate(inputs.entries)]
    return "<nav><h2>Contents</h2><ul>\n" + "\n".join(items) + "\n</ul></nav>"


# -- the run --------------------------------------------------------------------------------------


def _accuracy_table(metrics: dict[str, Any]) -> str:
    before, after = metrics["before"]["per_class"], metrics["after"]["per_class"]
    edited, defined = set(metrics.get("edited_classes", [])), set(metrics.get("defined_classes", []))
    names = metrics.get("evaluated_classes") or list(after)
    rows = []
    for name in names:
        b, a = before.get(name), after.get(name)
        change = a - b if a is not None and b is not None else None
        marks = [m for m, on in (("edited", name in edited), ("defined", name in defined)) if on]
        trend = "n" if change is None or change == 0 else ("n up" if change > 0 else "n down")
        cells = (
            f"<td>{esc(name)}</td>",
            f'<td class="n">{num(b)}</td>',
            f'<td class="n">{num(a)}</td>',
            f'<td class="{trend}">{pts(change)}</td>',
            f"<td>{esc(', '.join(marks))}</td>",
        )
        rows.append(
            f'<tr class="{"edited" if name in edited else "unedited"}" data-class="{esc(name)}">'
            + "".join(cells)
            + "</tr>"
        )
    b_all, a_all = metrics["before"].get("accuracy"), metrics["after"].get("accuracy")
    overall = a_all - b_all if a_all is not None and b_all is not None else None
    rows.append(
        '<tr class="total"><th>all evaluated classes</th>'
        f'<th class="n">{num(b_all)}</th><th class="n">{num(a_all)}</th>'
        f'<th class="n">{pts(overall)}</th><th></th></tr>'
    )
    head = (
        '<thead><tr><th>class</th><th class="n">before</th><th class="n">after</th>'
        '<th class="n">change (pts)</th><th>edit</th></tr></thead>'
    )
    return f'<table id="accuracy">\n{head}\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"


def _mean_change(metrics: dict[str, Any]) -> str:
    rows = []
    for key, label in (("edited", "edited classes"), ("unedited", "unedited classes")):
        summary = (metrics.get("mean_change") or {}).get(key)
        if summary is None:
            rows.append((label, "&ndash;", "&ndash;", "&ndash;", "none evaluated"))
        else:
            rows.append(
                (
                    label,
                    num(summary["before"]),
                    num(summary["after"]),
                    pts(summary["change"]),
                    esc(", ".join(summary.get("classes", []))),
                )
            )
    body = "\n".join(
        f'<tr><td>{r[0]}</td><td class="n">{r[1]}</td><td class="n">{r[2]}</td>'
        f'<td class="n">{r[3]}</td><td>{r[4]}</td></tr>'
        for r in rows
    )
    return (
        '<table id="mean-change">\n<thead><tr><th>mean test accuracy</th><th class="n">before</th>'
        '<th class="n">after</th><th class="n">change (pts)</th><th>classes</th></tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def _shade(count: int, top: int) -> str:
    """White for 0 to a full blue for the matrix's largest count; text turns white on the dark half."""
    t = count / top if top > 0 else 0.0
    r, g, b = (round(255 + (c - 255) * t) for c in (33, 102, 172))
    ink = "#fff" if t > 0.55 else "#1e1e1e"
    return f"background:#{r:02x}{g:02x}{b:02x};color:{ink}"


def confusion_table(matrix: Sequence[Sequence[int]], names: Sequence[str], ident: str) -> str:
    """Rows: true class, columns: predicted class; cells shaded by count, the diagonal outlined."""
    labels = list(names) if len(names) == len(matrix) else [str(i) for i in range(len(matrix))]
    top = max((v for row in matrix for v in row), default=0)
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{esc(n)}</th>" for n in labels) + "</tr>"
    rows = []
    for i, row in enumerate(matrix):
        cells = "".join(
            f'<td class="{"diag" if i == j else "off"}" style="{_shade(v, top)}">{int(v)}</td>'
            for j, v in enumerate(row)
        )
        rows.append(f"<tr><th>{esc(labels[i])}</th>{cells}</tr>")
    return (
        f'<table class="confusion" id="{ident}">\n<thead>{head}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _run_section(run: RunView) -> str:
    m = run.metrics
    names = m.get("evaluated_classes") or list(m["after"]["per_class"])
    parts = [f'<section id="run"><h2>Run {esc(run.run_id)}</h2>']
    prov = run.provenance
    facts = [
        ("edit kind", esc(m.get("kind", "unknown"))),
        ("edited classes", esc(", ".join(m.get("edited_classes", [])) or "none")),
        ("defined classes", esc(", ".join(m.get("defined_classes", [])) or "none")),
        ("parent run", esc(prov.get("parent_run") or "none (the extracted network)")),
    ]
    if prov.get("base_model"):
        facts.append(("base network sha256", f"<code>{esc(_short(prov['base_model'].get('sha256')))}</code>"))
    parts.append('<table class="facts">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts) + "</table>")
    parts.append("<h3>Applied scripts</h3>")
    if not run.scripts:
        listed = [
            f"<li><code>{esc(s.get('path'))}</code> (sha256 <code>{esc(_short(s.get('sha256')))}</code>, "
            f"{esc(s.get('status'))})</li>"
            for s in prov.get("scripts", [])
        ]
        parts.append(
            '<p class="muted">the run folder holds no copies of its scripts'
            + ("; its provenance names:</p>\n<ul>" + "".join(listed) + "</ul>" if listed else ".</p>")
        )
    for name, text in run.scripts:
        parts.append(f"<h4><code>scripts/{esc(name)}</code></h4>\n<pre>{esc(text)}</pre>")
    parts.append(f"<h3>Plan</h3>\n<pre>{esc(run.plan_text)}</pre>")
    parts.append("<h3>Test accuracy, before and after</h3>")
    parts.append('<p class="muted">per class, on the test split; highlighted rows are edited classes</p>')
    parts.append(_accuracy_table(m))
    parts.append(_mean_change(m))
    grn = (m.get("grn") or {}).get("test_accuracy")
    fidelity = (m.get("grn") or {}).get("fidelity")
    parts.append(
        f'<p id="grn">GRN on the edited graphs: test accuracy <b>{num(grn)}</b>'
        + ("" if grn is not None else " (not measured)")
        + (
            f"; agrees with the new network on <b>{num(fidelity)}</b> of them (its fidelity)"
            if isinstance(fidelity, (int, float))
            else ""
        )
        + "</p>"
    )
    parts.append("<h3>Confusion matrices</h3>")
    parts.append('<p class="muted">rows: true class, columns: predicted class; darker: more images</p>')
    parts.append("<h4>before</h4>\n" + confusion_table(m["before"]["confusion"], names, "confusion-before"))
    parts.append("<h4>after</h4>\n" + confusion_table(m["after"]["confusion"], names, "confusion-after"))
    parts.append("</section>")
    return "\n".join(parts)


# -- the document ---------------------------------------------------------------------------------


def render(inputs: ReportInputs, drafted: Suggestions | None = None) -> str:
    """``drafted``: the suggestions to show (default: what `hni suggest` drafts for the report's classes)."""
    title = f"hni report: {inputs.ws.root.name}" + (f", run {inputs.run.run_id}" if inputs.run else "")
    body = [_header(inputs), _contents(inputs), method_note(inputs.library)]
    if inputs.run is not None:
        body.append(_run_section(inputs.run))
    classes = [class_section(inputs, i, e, comparison_part(inputs, e)) for i, e in enumerate(inputs.entries)]
    # shown before the classes (read first) but made after them: its concept pictures are their cards
    drafted = drafted if drafted is not None else draft(inputs)
    body.append(suggestions_section(inputs, drafted, card_tags("\n".join(classes))))
    body += classes
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def write_report(
    ws: Workspace, output: str | Path | None = None, *, run: str | None = None, classes: Sequence[str] | None = None
) -> tuple[Path, ReportInputs]:
    """Check the output path and every input, render, then write atomically; a failure writes nothing."""
    target = before_report(check_report_output(output if output is not None else ws.root / "report.html"))
    inputs = gather(ws, run, classes)
    text = render(inputs)
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise InputFileError(f"{target}: cannot write the report: {exc.strerror or exc}") from None
    return target, inputs

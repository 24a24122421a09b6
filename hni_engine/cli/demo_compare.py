"""`hni demo`'s last step: `hni suggest`'s script, accepted blindly, beside the oracle script and no edit.

The oracle script reads the generator's labels; a user has only the evidence, which is what `hni suggest`
drafts from. The demo applies both to the same extraction (`hni checkout base` between them), so the runs
are siblings, and prints one row for each and one for the extracted network, from the per-class test
accuracy each recorded: the runs' `metrics.json` (their `after` side) and `hni train`'s `model/base.json`.
Nothing is measured again here. HEAD is left on the oracle run, as before this step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hni_dsl import load_library, make_plan
from hni_dsl.errors import HniError
from hni_engine.present.suggest_script import next_script_path
from hni_engine.store.runs import read_head
from hni_engine.store.workspace import Workspace

__all__ = [
    "NO_EDIT_ROW",
    "ORACLE_ROW",
    "SUGGESTED_ROW",
    "Row",
    "Suggested",
    "accuracy_table",
    "comparison",
    "recorded",
    "suggest_and_apply",
]

ORACLE_ROW = "oracle script (reads the generator's labels)"
SUGGESTED_ROW = "suggested (accepted blindly)"
NO_EDIT_ROW = "no edit"


def recorded(path: Path) -> dict[str, float]:
    """The per-class test accuracy recorded at ``path``: a run's `metrics.json` (its `after` side, the new
    network) or `model/base.json` (the trained network)."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        per_class = found["after"]["per_class"] if "after" in found else found["per_class"]
        return {str(name): float(value) for name, value in per_class.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HniError(f"{path}: no per-class test accuracy recorded there ({exc})") from None


@dataclass(frozen=True)
class Row:
    """One network of the table: its per-class test accuracy as recorded (None: nothing was applied), and
    what it is (the run, the classes its script edited, or why there is no run)."""

    name: str
    per_class: dict[str, float] | None
    note: str


def _mean(per_class: dict[str, float], classes: Sequence[str]) -> float | None:
    # A network with no output for a class (a class the oracle script defines) never predicts it: 0.
    return sum(per_class.get(c, 0.0) for c in classes) / len(classes) if classes else None


def _cell(value: float | None, reference: float | None) -> str:
    if value is None:
        return "-"
    if reference is None:
        return f"{value:.3f}"
    return f"{value:.3f} ({100 * (value - reference):+.1f})"


def accuracy_table(rows: Sequence[Row], classes: Sequence[str], edited: Sequence[str]) -> list[str]:
    """Mean per-class test accuracy of each row on ``edited`` (the classes the oracle script edits), on the
    other ``classes`` and on all of them (what a run records as its `accuracy`); each with its change in
    points against the last row (no edit)."""
    others = [c for c in classes if c not in edited]
    spans = (list(edited), others, list(classes))
    base = rows[-1].per_class
    reference = [_mean(base, s) if base is not None else None for s in spans]
    head = [
        "",
        f"edited classes ({len(edited)})",
        f"other classes ({len(others)})",
        f"all classes ({len(classes)})",
        "",
    ]
    body = [
        [
            r.name,
            *(
                _cell(_mean(r.per_class, s), None if r is rows[-1] else ref) if r.per_class is not None else "-"
                for s, ref in zip(spans, reference, strict=True)
            ),
            r.note,
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *body]:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True))]
        lines.append(("  ".join(cells) + "  " + row[-1]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return lines


@dataclass(frozen=True)
class Suggested:
    """What step 6 left: the script `hni suggest` wrote and the run it made (None: no statement, no run)."""

    script: Path
    run: str | None


def _has_statement(ws: Workspace, script: Path) -> bool:
    """Whether the script changes the extraction's library (`hni suggest` may comment out every line)."""
    outcome = make_plan(load_library(ws.library_path), [(str(script), script.read_text(encoding="utf-8"))])
    return outcome.plan is None or outcome.plan.has_changes  # a script that does not check: `hni apply` says why


def suggest_and_apply(ws: Workspace, run: Callable[..., None], device: str) -> Suggested:
    """`hni checkout base`, `hni suggest -o edits/NNNN-suggested.hni`, `hni apply` of that script when it has
    a statement, then `hni checkout` of the oracle run again, even when a step fails."""
    oracle = read_head(ws)
    if oracle is None:
        raise HniError(f"{ws.head_path}: the oracle script's run should be HEAD here")
    script = next_script_path(str(ws.edits_dir / "NNNN-suggested.hni"))
    suggested = None
    run("checkout", "base")
    try:
        run("suggest", "-o", str(script))
        if _has_statement(ws, script):
            run("apply", str(script), "--device", device)
            suggested = read_head(ws)
    finally:
        run("checkout", oracle)
    return Suggested(script, suggested)


def _run_classes(path: Path) -> tuple[list[str], list[str]]:
    """A run's evaluated classes (those with test images) and the classes its scripts edited."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        return [str(c) for c in found["evaluated_classes"]], [str(c) for c in found["edited_classes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HniError(f"{path}: no evaluated or edited classes recorded there ({exc})") from None


def comparison(ws: Workspace, oracle: str, suggested: Suggested) -> list[str]:
    """The demo's last table: the oracle run, the suggestions' run and the extracted network, on the classes
    the oracle run was evaluated on; then which classes each script edited and which network is current."""
    metrics = ws.runs_dir / oracle / "metrics.json"
    classes, oracle_edited = _run_classes(metrics)
    edited = [c for c in oracle_edited if c in classes]
    rows = [Row(ORACLE_ROW, recorded(metrics), f"run {oracle} (HEAD)")]
    if suggested.run is None:
        rows.append(Row(SUGGESTED_ROW, None, f"no statement proposed in {suggested.script.name}; nothing applied"))
    else:
        rows.append(Row(SUGGESTED_ROW, recorded(ws.runs_dir / suggested.run / "metrics.json"), f"run {suggested.run}"))
    base = ws.model_path.with_suffix(".json")
    rows.append(Row(NO_EDIT_ROW, recorded(base), f"the trained network ({base.name})"))
    lines = accuracy_table(rows, classes, edited)
    lines.append("mean per-class test accuracy as each network recorded it, change against no edit in points")
    lines.append("(a class a network has no output for counts 0)")
    lines.append(f"edited classes: those the oracle script edits: {', '.join(edited) or 'none'}")
    if suggested.run is not None:
        _, theirs = _run_classes(ws.runs_dir / suggested.run / "metrics.json")
        lines.append(f"the suggestions ({suggested.script.name}) edit: {', '.join(theirs) or 'none'}")
        share = _share_of_gain(rows, edited)
        if share is not None:
            lines.append(f"on the edited classes the suggestions gain {share:.0%} of what the oracle script gains")
    return lines


def _share_of_gain(rows: Sequence[Row], edited: Sequence[str]) -> float | None:
    """The suggestions' gain over no edit on ``edited``, as a fraction of the oracle's (None: no gain)."""
    oracle, ours, none = (_mean(r.per_class, edited) if r.per_class is not None else None for r in rows)
    if oracle is None or ours is None or none is None or oracle - none <= 0:
        return None
    return (ours - none) / (oracle - none)

"""`hni suggest`: the edit script a reviewer would draft, from the evidence alone (hni_engine.present.suggestions),
each statement under a comment that gives its reason in numbers and how sure it is.

A `low` finding is written commented out: the reviewer takes it by deleting the `# `. The script is then
checked against the library as `hni check` would; a statement that does not check (two suggestions that
collide) is commented out with the reason, so the file always checks, and it is written in the canonical
form `hni fmt --check` accepts. Nothing is applied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hni_dsl import make_plan
from hni_dsl.formatter import format_class_name, format_text
from hni_dsl.library import Library
from hni_engine.present.suggest_layout import layout_edges
from hni_engine.present.suggestions import (
    Finding,
    defined_class,
    shortcut_concepts,
    spurious_concepts,
    unstable_concepts,
    weak_classes,
)

__all__ = ["Suggestions", "next_script_path", "suggest"]

HEADER = (
    "# Suggested by `hni suggest` from the evidence (deletion importance, p-values, stability, the network's\n"
    "# errors by concept); nothing here has been applied. Read each reason, keep or delete the line, and take\n"
    "# a commented-out one by removing its `# `.\n"
)


@dataclass
class Suggestions:
    text: str  # the script
    findings: list[Finding]


def _network_results(results: Path) -> tuple[dict[str, float], list[list[int]], list[str]] | None:
    """The current network's per-class test accuracy and confusion, if recorded: `model/base.json` for the
    extracted network, a run's `metrics.json` (its `after` side) for a run's."""
    try:
        found = json.loads(results.read_text(encoding="utf-8"))
        if "after" in found:
            after = found["after"]
            classes = found.get("evaluated_classes") or list(after["per_class"])
            return dict(after["per_class"]), list(after["confusion"]), list(classes)
        return dict(found["per_class"]), list(found["confusion"]), list(found["classes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _comment(text: str) -> list[str]:
    words, lines, line = text.split(), [], "#"
    for word in words:
        if len(line) + 1 + len(word) > 100:
            lines.append(line)
            line = "#  "
        line += " " + word
    return [*lines, line]


def _lines(finding: Finding) -> list[str]:
    """The finding's comment, then its statement (commented out when it is a guess)."""
    head = f"{finding.detector} ({finding.confidence}): {finding.reason}"
    out = _comment(head)
    if finding.statement is not None:
        out.append(("# " if finding.confidence == "low" else "") + finding.statement)
    return out


def _render(findings: list[Finding], classes: Sequence[str]) -> str:
    """One `class X:` block per class, then a second one for its `forbid`s: a block changes each slot once,
    and a forbid after a replace in the same block would touch the replaced slot again."""
    lines = [HEADER]
    for name in classes:
        mine = [f for f in findings if f.class_name == name and f.detector != "define"]
        forbids = [f for f in mine if f.statement is not None and f.statement.startswith("forbid")]
        for block in ([f for f in mine if f not in forbids], forbids):
            if block:
                lines.append(f"class {format_class_name(name)}:")
                lines += ["    " + line for f in block for line in _lines(f)]
                lines.append("")
    for f in findings:
        if f.detector == "define":
            lines += [*_lines(f), ""]
    return "\n".join(lines) + "\n"


def _disarm(text: str, library: Library) -> str:
    """Comment out each statement that does not check, with the diagnostic, until the script checks."""
    for _ in range(text.count("\n")):
        outcome = make_plan(library, [("suggested.hni", text)])
        errors = [d for d in outcome.diagnostics if d.is_error]
        if not errors:
            return text
        lines = text.split("\n")
        first = errors[0]
        row = lines[first.line - 1]
        indent = row[: len(row) - len(row.lstrip())]
        lines[first.line - 1] = f"{indent}# (does not check: {first.message}) {row.strip()}"
        text = "\n".join(lines)
    return text


def _drop_empty_blocks(text: str) -> str:
    """A `class X:` block whose statements are all commented out is not valid syntax: its header goes too."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("class ") and line.endswith(":"):
            body = []
            for later in lines[i + 1 :]:
                if not later.startswith("    "):
                    break
                body.append(later.strip())
            if not any(b and not b.startswith("#") for b in body):
                out.append("# " + line)
                continue
        out.append(line)
    return "\n".join(out)


def suggest(
    library: Library,
    results: Path,
    classes: Sequence[str] | None = None,
    define: tuple[str, Sequence[str], str | None] | None = None,
) -> Suggestions:
    """Run every detector on the chosen classes (all with images by default) and write the script."""
    names = list(classes) if classes else [e.name for e in library.classes if e.defined is None]
    findings: list[Finding] = []
    network = _network_results(results)
    if network is not None:
        findings += [f for f in weak_classes(*network) if f.class_name in names]
    for name in names:
        entry = library.get(name)
        if entry is None:
            raise ValueError(f"unknown class {name!r}; classes: {', '.join(library.class_names)}")
        spurious = spurious_concepts(entry)
        findings += spurious
        handled = {cid for f in spurious for cid in f.concepts}
        # shortcut (pinned or area-dense concepts) and layout (edges that change on turned test images)
        shortcuts = shortcut_concepts(entry, handled)
        findings += shortcuts + layout_edges(entry)
        handled |= {cid for f in shortcuts for cid in f.concepts}
        findings += unstable_concepts(entry, handled)
    if define is not None:
        findings.append(defined_class(library, *define))
    text = _drop_empty_blocks(_render(findings, names))
    text = _disarm(text, library)
    return Suggestions(format_text(_drop_empty_blocks(text)), findings)


def next_script_path(path: str) -> Path:
    """``edits/NNNN-suggested.hni`` -> the same with NNNN the folder's next number (one past its highest)."""
    target = Path(path)
    if "NNNN" not in target.name:
        return target
    numbers = [int(m.group(1)) for p in target.parent.glob("*.hni") if (m := re.match(r"(\d+)", p.name))]
    return target.with_name(target.name.replace("NNNN", f"{max(numbers, default=0) + 1:04d}"))

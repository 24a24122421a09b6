"""Plans: the reviewable diff of a set of scripts against a library, in text and JSON.

A plan is bound to its inputs: it records the sha256 of the library it was made against (of the
library's canonical JSON, so re-indenting the file does not matter) and of every script, and the
library's ``applied`` list records which scripts a library already contains, so planning or applying the
same script twice is a no-op the second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from . import transforms as tf
from .checker import check
from .errors import Diagnostic, HniError, HniSyntaxError
from .escape import escape
from .formatter import format_class_name
from .library import AppliedScript, Library, library_sha256
from .parser import parse

__all__ = [
    "Plan",
    "PlanMismatchError",
    "PlanOutcome",
    "ScriptRef",
    "StalePlanError",
    "apply_plan",
    "make_plan",
    "render_plan",
    "text_sha256",
]

PLAN_FORMAT: Final = "hni-plan/1"


class StalePlanError(HniError):
    """A saved plan no longer matches the library or scripts it was made from."""


class PlanMismatchError(HniError):
    """A saved plan's transforms, text or hashes are not what its own scripts compile to."""


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ScriptRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str
    sha256: str
    status: Literal["planned", "already_applied", "no_changes"]


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    format: Literal["hni-plan/1"] = PLAN_FORMAT
    library: str
    library_sha256: str
    library_after_sha256: str
    scripts: tuple[ScriptRef, ...]
    transforms: tuple[tf.Transform, ...]
    summary: dict[str, int]
    text: str

    @property
    def has_changes(self) -> bool:
        return bool(self.transforms)


@dataclass(frozen=True)
class PlanOutcome:
    """A plan, or the diagnostics that prevented one (``plan`` is None whenever there is an error)."""

    plan: Plan | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str]
    library_after: Library | None
    # the plan's text with people's names beside the ids (``labels``), for the terminal; the plan itself
    # keeps the canonical text, so renaming a concept never invalidates a reviewed plan
    display_text: str | None = None


def make_plan(
    library: Library,
    scripts: list[tuple[str, str]],
    library_path: str = "<library>",
    labels: Mapping[str, str] | None = None,
) -> PlanOutcome:
    """Check ``scripts`` ([(path, text)], applied in order) against ``library`` and plan them.

    Scripts already recorded in the library's ``applied`` list are skipped. If any script has an error
    there is no plan: a script with one error changes nothing.
    """
    applied = {entry.sha256 for entry in library.applied}
    current = library
    diagnostics: list[Diagnostic] = []
    refs: list[ScriptRef] = []
    all_transforms: list[tf.Transform] = []
    new_applied: list[AppliedScript] = []
    block_base = 0
    script_of_block: dict[int, str] = {}
    for path, text in scripts:
        sha = text_sha256(text)
        if sha in applied:
            refs.append(ScriptRef(path=path, sha256=sha, status="already_applied"))
            continue
        try:
            script = parse(text, path)
        except HniSyntaxError as exc:
            diagnostics.extend(exc.diagnostics)
            continue
        result = check(script, current, path, block_base=block_base)
        script_of_block.update({b: path for b in range(block_base, block_base + len(script.statements))})
        block_base += len(script.statements)
        diagnostics.extend(result.diagnostics)
        if not result.ok:
            continue
        current = result.library_after
        all_transforms.extend(result.transforms)
        refs.append(ScriptRef(path=path, sha256=sha, status="planned" if result.transforms else "no_changes"))
        if result.transforms:
            new_applied.append(AppliedScript(script=path, sha256=sha))
            applied.add(sha)
    sources = dict(scripts)
    if any(d.is_error for d in diagnostics):
        return PlanOutcome(None, tuple(diagnostics), sources, None)
    after = current.with_applied(tuple(new_applied)) if new_applied else current
    text, summary = render_plan(library, tuple(all_transforms), refs, script_of_block if len(scripts) > 1 else None)
    plan = Plan(
        library=library_path,
        library_sha256=library_sha256(library),
        library_after_sha256=library_sha256(after),
        scripts=tuple(refs),
        transforms=tuple(all_transforms),
        summary=summary,
        text=text,
    )
    display = None
    if labels:
        blocks = script_of_block if len(scripts) > 1 else None
        display = render_plan(library.with_labels(labels), tuple(all_transforms), refs, blocks)[0]
    return PlanOutcome(plan, tuple(diagnostics), sources, after, display)


def apply_plan(library: Library, plan: Plan, scripts: Mapping[str, str]) -> Library:
    """Apply a saved plan: exactly what its scripts say, and only if that is what the plan shows.

    The plan's stored transforms are never trusted. The transforms, text and hashes are compiled again
    from ``scripts`` (path -> text, the scripts the plan names) against ``library``, and the plan is
    refused unless every field agrees: a plan whose text shows one edit and whose transforms hold
    another applies neither. Raises :class:`StalePlanError` when the library or a script changed since
    planning, :class:`PlanMismatchError` when the plan disagrees with its own scripts.
    """
    actual = library_sha256(library)
    if actual != plan.library_sha256:
        raise StalePlanError(
            f"the plan was made against library {plan.library_sha256[:12]}, but the library is now "
            f"{actual[:12]}; make the plan again (hni plan)"
        )
    for ref in plan.scripts:
        if ref.path not in scripts:
            raise StalePlanError(f"{ref.path}: the plan's script is missing, so the plan cannot be checked")
        if text_sha256(scripts[ref.path]) != ref.sha256:
            raise StalePlanError(f"{ref.path} changed since the plan was made; make the plan again (hni plan)")
    outcome = make_plan(library, [(ref.path, scripts[ref.path]) for ref in plan.scripts], plan.library)
    if outcome.plan is None or outcome.library_after is None:
        first = next((d for d in outcome.diagnostics if d.is_error), None)
        why = f" ({first.code}: {first.message})" if first is not None else ""
        raise PlanMismatchError(f"the plan's scripts no longer compile against the library{why}; nothing applied")
    expected = outcome.plan.model_dump(mode="json")
    given = plan.model_dump(mode="json")
    differ = [key for key in expected if key != "library" and expected[key] != given.get(key)]
    if differ:
        raise PlanMismatchError(
            f"the plan's {', '.join(differ)} disagree{'s' if len(differ) == 1 else ''} with what its scripts "
            "compile to; it was edited after `hni plan` made it, so nothing was applied (make the plan again)"
        )
    return outcome.library_after


# -- text ---------------------------------------------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# The summary's counts, in order, with their words; a transform's ``show`` adds to them.
_SUMMARY = [
    ("concepts_replaced", "concept replaced", "concepts replaced"),
    ("concepts_added", "concept added", "concepts added"),
    ("concepts_dropped", "concept dropped", "concepts dropped"),
    ("concepts_forbidden", "concept forbidden", "concepts forbidden"),
    ("edges_added", "edge added", "edges added"),
    ("edges_dropped", "edge dropped", "edges dropped"),
]


def render_plan(
    library: Library,
    transforms: tuple[tf.Transform, ...],
    refs: list[ScriptRef],
    script_of_block: dict[int, str] | None = None,
) -> tuple[str, dict[str, int]]:
    """Plan text (stable order, diffable) and its summary counts, replaying ``transforms`` on ``library``.

    With ``script_of_block`` (several scripts), each script's changes follow a `# PATH` line.
    """
    lines: list[str] = []
    counts = dict.fromkeys(["classes_changed", "classes_defined"] + [key for key, _, _ in _SUMMARY], 0)
    changed: set[str] = set()
    defined: set[str] = set()
    for ref in refs:
        if ref.status == "already_applied":
            lines.append(f"= {ref.path}: already applied to this library (sha256 {ref.sha256[:12]}), skipped")
    current = library
    shown_script = None
    for (block, cls), group in groupby(transforms, key=lambda t: (t.block, t.cls)):
        items = list(group)
        name = format_class_name(cls)
        if script_of_block is not None and script_of_block.get(block) != shown_script:
            shown_script = script_of_block.get(block)
            lines.append(f"# {shown_script}")
        view = tf.BlockPlan(current, current.get(cls))
        for t in items:
            t.show(view)
        if items[0].creates_class:
            defined.add(cls)
            lines.append(f"+ {name} (defined, zero-shot)")
        else:
            if cls not in defined:
                changed.add(cls)
            lines.append(f"~ {name}")
        lines.extend(view.lines)
        for key, n in view.counts.items():
            counts[key] += n  # a KeyError here: a new count needs its words in _SUMMARY
        counts["edges_dropped"] += len(view.edges_dropped)
        current = tf.apply_transforms(current, items)
        after = current.get(cls)
        if view.renumbered and after is not None:
            slots = ", ".join(f"{i} {node}" for i, node in enumerate(after.graph.nodes, start=1))
            lines.append(f"    slots after: {slots}")
    counts["classes_changed"] = len(changed)
    counts["classes_defined"] = len(defined)
    if not transforms:
        lines.append("No changes.")
        return "\n".join(escape(line) for line in lines) + "\n", counts
    head = []
    if counts["classes_changed"]:
        head.append(_count(counts["classes_changed"], "class changed", "classes changed"))
    if counts["classes_defined"]:
        head.append(_count(counts["classes_defined"], "class defined", "classes defined"))
    detail = []
    for key, one, many in _SUMMARY:
        if counts[key]:
            detail.append(_count(counts[key], one, many))
    summary_line = ", ".join(head) + ("; " + ", ".join(detail) if detail else "")
    lines.append(summary_line)
    return "\n".join(escape(line) for line in lines) + "\n", counts  # names and paths from input, shown safely

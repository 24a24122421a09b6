"""`hni report`'s inputs: the extraction, the run and the classes asked for, read and checked before anything is
rendered or written (a bad input fails the command with nothing written).

Torch-free: it reads the library, extract.json and the run folder's JSON and text files only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from hni_dsl import load_library
from hni_dsl.errors import HniError
from hni_dsl.fileio import InputFileError, read_text
from hni_dsl.library import ClassEntry, Library
from hni_dsl.suggest import did_you_mean
from hni_engine import formats
from hni_engine.present.exemplars import refused_exemplars
from hni_engine.store.names import load_names, with_names
from hni_engine.store.runs import resolve_run
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["ReportInputs", "RunView", "check_report_output", "gather", "parse_classes"]


@dataclass
class RunView:
    """What a report shows of one run folder."""

    run_id: str
    folder: Path
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    plan_text: str
    scripts: list[tuple[str, str]]  # (file name, text) in application order
    comparison: dict[str, Any] | None = (
        None  # compare.json: the extraction against this run (hni_engine.edit.comparison)
    )


@dataclass
class ReportInputs:
    """Everything the HTML is made from; gathered (and checked) before anything is rendered or written."""

    ws: Workspace
    library: Library
    library_path: Path
    entries: list[ClassEntry]
    extract: dict[str, Any]
    run: RunView | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # exemplars refused (hni_engine.present.exemplars)


# -- gathering and checking the inputs ------------------------------------------------------------


def check_report_output(path: str | Path) -> Path:
    """Refuse a bad output path before any work, so a failed command writes nothing."""
    target = Path(path)
    if target.is_dir():
        raise InputFileError(f"{path}: is a folder; give the report's file name (e.g. {target / 'report.html'})")
    if not target.parent.is_dir():
        raise InputFileError(f"{path}: cannot write the report: folder {target.parent} does not exist")
    return target


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: not {what} (a JSON object expected, got {type(data).__name__})")
    return data


class _Checked(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Side(_Checked):
    per_class: dict[str, float | None]
    accuracy: float | None = None
    confusion: list[list[int]]


class _Summary(_Checked):
    classes: list[str] = []
    before: float
    after: float
    change: float


class _Grn(_Checked):
    test_accuracy: float | None = None


class _Metrics(_Checked):
    """The fields of a run's metrics.json the report shows, with the types it formats them as."""

    kind: str = "unknown"
    before: _Side
    after: _Side
    evaluated_classes: list[str] | None = None
    edited_classes: list[str] = []
    defined_classes: list[str] = []
    mean_change: dict[str, _Summary | None] | None = None
    grn: _Grn | None = None


class _Script(_Checked):
    path: str | None = None
    sha256: str | None = None
    status: str | None = None


class _Model(_Checked):
    sha256: str | None = None


class _Provenance(_Checked):
    parent_run: str | None = None
    model_sha256: str | None = None
    base_model: _Model | None = None
    scripts: list[_Script] = []


class _CompareClass(_Checked):
    name: str
    accuracy: tuple[float | None, float | None]
    importance: dict[str, tuple[float | None, float | None]]
    nodes: tuple[list[str], list[str]]
    edges: tuple[dict[str, float | None], dict[str, float | None]]


class _Compare(_Checked):
    format: str
    a: str
    b: str
    classes: list[_CompareClass]


def _checked(model: type[_Checked], data: dict[str, Any], path: Path, what: str) -> dict[str, Any]:
    """``data`` as ``model`` reads it (numbers as numbers, text as text), or a one-line error naming the field."""
    try:
        checked: dict[str, Any] = model.model_validate(data).model_dump(exclude_unset=True)
        return checked
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise InputFileError(f"{path}: not {what} ({where}: {first['msg']})") from None


def _load_run(ws: Workspace, run_id: str) -> RunView:
    folder = ws.runs_dir / run_id
    for name in ("library.json", "metrics.json", "plan.txt"):
        if not (folder / name).is_file():
            raise WorkspaceError(f"{folder}: incomplete run ({name} is missing)")
    provenance = (
        _checked(
            _Provenance,
            _read_json(folder / "provenance.json", "run provenance"),
            folder / "provenance.json",
            "a run's provenance",
        )
        if (folder / "provenance.json").is_file()
        else {}
    )
    scripts_dir = folder / "scripts"
    scripts = (
        [(p.name, read_text(p, "script")) for p in sorted(scripts_dir.iterdir()) if p.is_file()]
        if scripts_dir.is_dir()
        else []
    )
    comparison = None  # a run made before apply recorded it has none
    if (folder / "compare.json").is_file():
        path = folder / "compare.json"
        comparison = _checked(_Compare, _read_json(path, "run comparison"), path, "a run's comparison")
        if comparison["format"] != formats.COMPARE:
            raise InputFileError(f"{path}: format {comparison['format']!r}, expected {formats.COMPARE!r}")
    return RunView(
        run_id,
        folder,
        _checked(
            _Metrics, _read_json(folder / "metrics.json", "run metrics"), folder / "metrics.json", "a run's metrics"
        ),
        provenance,
        read_text(folder / "plan.txt", "plan"),
        scripts,
        comparison,
    )


def _select(library: Library, wanted: Sequence[str] | None) -> list[ClassEntry]:
    if not wanted:
        return list(library.classes)
    out = []
    for name in wanted:
        entry = library.get(name)
        if entry is None:
            hint = did_you_mean(name, library.class_names, quote=repr) or f"; classes: {', '.join(library.class_names)}"
            raise HniError(f"--classes: unknown class {name!r}{hint}")
        if entry not in out:
            out.append(entry)
    return out


def parse_classes(text: str | None) -> list[str] | None:
    """``A,B,C`` -> ["A", "B", "C"]; an empty list is a usage mistake, not "every class"."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise HniError(f"--classes {text!r}: name at least one class (A,B,...)")
    return names


def gather(ws: Workspace, run: str | None = None, classes: Sequence[str] | None = None) -> ReportInputs:
    """Read and check every input: extraction, the run (--run, else runs/HEAD), the classes asked for."""
    if not ws.library_path.is_file():
        raise WorkspaceError(f"{ws.library_path}: no concepts extracted yet (run `hni -w {ws.root} extract`)")
    notes = []
    extract = {}
    if ws.extract_report_path.is_file():
        extract = _read_json(ws.extract_report_path, "extraction report")
    else:
        notes.append(f"{ws.extract_report_path} is missing: GRN fidelity unknown")
    run_id = resolve_run(ws, run)
    view = _load_run(ws, run_id) if run_id is not None else None
    library_path = view.folder / "library.json" if view is not None else ws.library_path
    library = with_names(load_library(library_path), load_names(ws.root))
    entries = _select(library, classes)
    refused = refused_exemplars(library, entries, ws.concepts_dir, library_path.parent)
    return ReportInputs(ws, library, library_path, entries, extract, view, notes, refused)

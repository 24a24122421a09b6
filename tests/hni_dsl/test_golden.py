"""Golden files for the language.

``golden/valid/NAME.hni`` must check against ``examples/library.json``; ``NAME.plan`` holds its plan text
and any warnings. ``golden/errors/NAME.hni`` must fail; ``NAME.expected`` holds every rendered diagnostic
(line, column, code, message, source line and caret). Regenerate after a deliberate change with
``UPDATE_GOLDEN=1 make test`` and review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hni_dsl import make_plan
from hni_dsl.errors import render_diagnostics

GOLDEN = Path(__file__).resolve().parent / "golden"
VALID = sorted((GOLDEN / "valid").glob("*.hni"))
ERRORS = sorted((GOLDEN / "errors").glob("*.hni"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _outcome(path: Path, library):
    name = f"{path.parent.name}/{path.name}"
    return make_plan(library, [(name, path.read_text(encoding="utf-8"))], "examples/library.json")


def _compare(actual: str, expected_path: Path) -> None:
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"missing golden file {expected_path.name}; run with UPDATE_GOLDEN=1"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_enough_error_cases():
    assert len(ERRORS) >= 30


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_script_plans(path, example_library):
    outcome = _outcome(path, example_library)
    assert outcome.plan is not None, render_diagnostics(outcome.diagnostics, outcome.sources)
    warnings = render_diagnostics(outcome.diagnostics, outcome.sources)
    _compare(outcome.plan.text + (f"\n{warnings}\n" if warnings else ""), path.with_suffix(".plan"))


@pytest.mark.parametrize("path", ERRORS, ids=[p.stem for p in ERRORS])
def test_invalid_script_diagnostics(path, example_library):
    outcome = _outcome(path, example_library)
    assert outcome.plan is None, "an invalid script must produce no plan"
    assert outcome.library_after is None
    assert any(d.is_error for d in outcome.diagnostics)
    _compare(render_diagnostics(outcome.diagnostics, outcome.sources) + "\n", path.with_suffix(".expected"))

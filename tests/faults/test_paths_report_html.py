"""Everything `hni report` takes from its inputs is HTML-escaped: class names, concept labels, file names,
script text, run facts. A report is mailed and opened in browsers; no input may put markup into it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from hni_engine.cli.app import main

TAG = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def ws(tiny_extracted, tmp_path):
    target = tmp_path / "ws"
    shutil.copytree(tiny_extracted, target)
    return target


def _hostile_run(ws: Path) -> None:
    """A run folder whose every text field carries markup."""
    library = json.loads((ws / "concepts" / "library.json").read_text())
    for entry in library["classes"]:
        for concept in entry["pool"]:
            concept["label"] = TAG + ATTR
    folder = ws / "runs" / "0001-deadbeef"
    (folder / "scripts").mkdir(parents=True)
    (folder / "library.json").write_text(json.dumps(library))
    (ws / "concepts" / "library.json").write_text(json.dumps(library))
    names = [TAG, ATTR]
    side = {"per_class": {n: 0.5 for n in names}, "accuracy": 0.5, "confusion": [[1, 0], [0, 1]]}
    metrics = {
        "kind": TAG,
        "classes": names,
        "edited_classes": [TAG],
        "defined_classes": [ATTR],
        "evaluated_classes": names,
        "before": side,
        "after": side,
        "mean_change": {"edited": {"classes": [TAG], "before": 0.5, "after": 0.5, "change": 0.0}},
        "grn": {"test_accuracy": None},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "plan.txt").write_text(TAG + "\n")
    provenance = {
        "parent_run": TAG,
        "base_model": {"sha256": ATTR},
        "scripts": [{"path": TAG, "sha256": ATTR, "status": TAG}],
    }
    (folder / "provenance.json").write_text(json.dumps(provenance))
    (folder / "scripts" / "01_<b>bold.hni").write_text(TAG + ATTR)
    (ws / "runs" / "HEAD").write_text("0001-deadbeef\n")


def _raw_markup(text: str) -> list[str]:
    """Tags the report should not have: any <script>, any <img> other than its own data-URI pictures, <b>."""
    bad = re.findall(r"<script|<b>bold", text, flags=re.IGNORECASE)
    own = re.compile(r'<img (class="card" )?src="data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+" alt="[^"<>]*" ')
    bad += [img for img in re.findall(r"<img [^>]*>", text) if not own.match(img)]
    return bad


def test_markup_in_every_input_is_escaped(ws, tmp_path, capsys):
    _hostile_run(ws)
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    text = out.read_text()
    assert _raw_markup(text) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, as text


def test_without_the_scripts_the_provenance_names_are_escaped(ws, tmp_path):
    _hostile_run(ws)
    shutil.rmtree(ws / "runs" / "0001-deadbeef" / "scripts")
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    assert _raw_markup(out.read_text()) == []


@pytest.mark.parametrize(
    "field, value",
    [("accuracy", TAG), ("confusion", [[TAG]]), ("confusion", None), ("per_class", {"a": TAG}), ("per_class", [1, 2])],
)
def test_metrics_of_the_wrong_type_are_one_line_errors(ws, tmp_path, field, value, capsys):
    _hostile_run(ws)
    path = ws / "runs" / "0001-deadbeef" / "metrics.json"
    metrics = json.loads(path.read_text())
    if value is None:
        del metrics["after"][field]
    else:
        metrics["after"][field] = value
    path.write_text(json.dumps(metrics))
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(path) in err and f"after.{field}" in err
    assert not out.exists()


def test_a_hash_of_the_wrong_type_is_shown_as_text(ws, tmp_path):
    extract = json.loads((ws / "concepts" / "extract.json").read_text())
    extract["model_sha256"] = 12345
    (ws / "concepts" / "extract.json").write_text(json.dumps(extract))
    out = tmp_path / "r.html"
    assert main(["-w", str(ws), "report", "-o", str(out)]) == 0
    assert "<code>12345</code>" in out.read_text()

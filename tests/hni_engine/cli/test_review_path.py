"""A reviewer's whole path (README, "Review in git") on a small workspace: write a script -> the pre-commit
hooks' commands -> the plan as Markdown with pictures (rendered to HTML, opened in Chromium when it is
installed) -> apply -> runs -> checkout back."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml
from PIL import Image

from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[3]


def _hook(hook_id: str, args: list[str], script: Path) -> int:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    entry = shlex.split(hooks[hook_id]["entry"])
    return main([*entry[1:], *args, str(script)])


def test_a_reviewers_path(tiny_extracted, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(tiny_extracted, ws, ignore=shutil.ignore_patterns(".hni"))
    library = json.loads((ws / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if len(e["graph"]["nodes"]) > 1)

    # 1. the script, through the hooks pre-commit runs on it
    script = ws / "edits" / "001_review.hni"
    script.write_text(f"class {name}:  drop concept 2\n")
    assert _hook("hni-fmt", [], script) == 1  # not canonical: the commit is stopped
    script.write_text(f"class {name}: drop concept 2\n")
    assert _hook("hni-fmt", [], script) == 0 and _hook("hni-check", ["-w", str(ws)], script) == 0

    # 2. the plan for the pull request, its pictures beside it
    pr = tmp_path / "pr"
    pr.mkdir()
    assert main(["-w", str(ws), "plan", "--format", "markdown", "-o", str(pr / "plan.md")]) == 2
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render((pr / "plan.md").read_text())
    sources = re.findall(r'<img src="([^"]+)"', body)
    assert sources
    for src in sources:
        with Image.open(pr / src) as picture:
            assert picture.width > 0
    page = pr / "plan.html"
    page.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{body}</body>", encoding="utf-8")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is not None:
        flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
        shot = pr / "plan.png"
        subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
        with Image.open(shot) as img:
            assert len(img.convert("RGB").getcolors(1 << 20)) > 50  # the pictures were drawn

    # 3. merged: apply what is new; 4. the run history, and back to the extraction
    capsys.readouterr()
    assert main(["-w", str(ws), "apply", "--device", "cpu"]) == 0
    run = (ws / "runs" / "HEAD").read_text().strip()
    capsys.readouterr()
    assert main(["-w", str(ws), "runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    rows = listed["runs"] if isinstance(listed, dict) else listed
    assert any(run in json.dumps(row) for row in rows)
    assert main(["-w", str(ws), "checkout", "base"]) == 0
    assert not (ws / "runs" / "HEAD").exists() or (ws / "runs" / "HEAD").read_text().strip() != run
    capsys.readouterr()
    assert main(["-w", str(ws), "plan"]) == 2  # at base the script is new again
    assert main(["-w", str(ws), "checkout", run[:4]]) == 0
    assert (ws / "runs" / "HEAD").read_text().strip() == run

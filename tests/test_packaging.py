"""The built wheel: it carries the grammar and schema, and the language runs from it without torch."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("hni-*.whl")
    return built


def test_wheel_contains_grammar_and_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "hni_dsl/_grammar/hni.lark" in names
    assert "hni_dsl/schema/hni-library-1.schema.json" in names
    grammar = zipfile.ZipFile(wheel).read("hni_dsl/_grammar/hni.lark").decode()
    assert grammar == (ROOT / "grammar" / "hni.lark").read_text()


def test_language_runs_from_the_wheel_in_an_environment_without_torch(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, text=True)
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0, "this environment must not have torch"
    hni = env_dir / "bin" / "hni"
    edits = sorted(str(p) for p in (ROOT / "examples" / "edits").glob("*.hni"))
    library = str(ROOT / "examples" / "library.json")
    # Run from elsewhere so nothing is imported from the source tree.
    check = subprocess.run(
        [str(hni), "check", "--library", library, *edits], capture_output=True, text=True, cwd=tmp_path
    )
    assert check.returncode == 0, check.stderr
    fmt = subprocess.run([str(hni), "fmt", "--check", *edits], capture_output=True, text=True, cwd=tmp_path)
    assert fmt.returncode == 0, fmt.stderr
    plan = subprocess.run(
        [str(hni), "plan", "--library", library, *edits], capture_output=True, text=True, cwd=tmp_path
    )
    assert plan.returncode == 2, plan.stderr
    assert "1 class defined" in plan.stdout
    explain = subprocess.run([str(hni), "check", "--explain", "e104"], capture_output=True, text=True, cwd=tmp_path)
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("E104 (error): pool index out of range")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "hni.toml").write_text("seed = 7\n[grn]\nepochs = 5\n")
    config = subprocess.run(
        [str(hni), "-w", str(workspace), "config", "--json"], capture_output=True, text=True, cwd=tmp_path
    )
    assert config.returncode == 0, config.stderr
    settings = {s["key"]: s for s in json.loads(config.stdout)}
    assert settings["seed"]["value"] == 7 and settings["seed"]["source"] == "file"
    assert settings["grn.epochs"]["value"] == 5 and settings["extract.clusters"]["source"] == "default"

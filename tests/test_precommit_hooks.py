"""The pre-commit hooks this repository offers (`.pre-commit-hooks.yaml`): each hook's command on a good and a
bad edit script, as pre-commit runs it (entry, then args, then the files), and, marked slow, the real thing:
`pre-commit try-repo` on a temporary git repository, which installs hni's base package (no torch) in its own
virtual environment.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
HOOKS = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}


@pytest.fixture
def repo(tmp_path):
    """A repository with a workspace in ws/: the example library and one canonical, checking script."""
    (tmp_path / "ws" / "concepts").mkdir(parents=True)
    (tmp_path / "ws" / "edits").mkdir()
    shutil.copy(ROOT / "examples" / "library.json", tmp_path / "ws" / "concepts" / "library.json")
    (tmp_path / "ws" / "edits" / "001.hni").write_text("class fire_engine: drop edge 2->4\n")
    return tmp_path


def _run(hook: str, args: list[str], files: list[Path]) -> int:
    entry = shlex.split(HOOKS[hook]["entry"])
    assert entry[0] == "hni"
    return main([*entry[1:], *args, *map(str, files)])


def test_hooks_run_on_edit_scripts_only():
    assert set(HOOKS) == {"hni-fmt", "hni-check"}
    for hook in HOOKS.values():
        assert hook["language"] == "python" and hook["files"] == r"\.hni$"


def test_fmt_hook_passes_canonical_scripts_and_fails_others(repo, capsys):
    script = repo / "ws" / "edits" / "001.hni"
    assert _run("hni-fmt", [], [script]) == 0
    script.write_text("class fire_engine:   drop edge 2 -> 4\n")
    assert _run("hni-fmt", [], [script]) != 0
    assert script.read_text() == "class fire_engine:   drop edge 2 -> 4\n"  # a check never rewrites


def test_check_hook_uses_the_workspace_given_in_args(repo, capsys):
    script = repo / "ws" / "edits" / "001.hni"
    assert _run("hni-check", ["-w", str(repo / "ws")], [script]) == 0
    script.write_text("class fire_engine: drop edge 9->4\n")
    assert _run("hni-check", ["-w", str(repo / "ws")], [script]) == 1
    assert "E10" in capsys.readouterr().err


@pytest.mark.slow
def test_pre_commit_try_repo(tmp_path):
    """pre-commit installs this checkout's base package (the language, no torch) and runs both hooks, in a
    repository that is itself a workspace (try-repo passes no `args`, so `hni check` reads `.`)."""
    pre_commit = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    if pre_commit is None:
        pytest.skip("pre-commit is not installed in this environment (pip install pre-commit)")
    (tmp_path / "concepts").mkdir()
    (tmp_path / "edits").mkdir()
    shutil.copy(ROOT / "examples" / "library.json", tmp_path / "concepts" / "library.json")
    script = tmp_path / "edits" / "001.hni"
    script.write_text("class fire_engine: drop edge 2->4\n")
    git = ["git", "-c", "user.email=hni@example.org", "-c", "user.name=hni"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "scripts"], cwd=tmp_path, check=True)

    def try_repo(hook: str) -> subprocess.CompletedProcess[str]:
        command = [pre_commit, "try-repo", str(ROOT), hook, "--all-files"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)

    for hook in ("hni-fmt", "hni-check"):
        done = try_repo(hook)
        assert done.returncode == 0, done.stdout + done.stderr
    script.write_text("class fire_engine:   drop edge 2 -> 4\n")
    done = try_repo("hni-fmt")
    assert done.returncode != 0 and "001.hni" in done.stdout + done.stderr
    script.write_text("class fire_engine: drop edge 9->4\n")
    done = try_repo("hni-check")
    assert done.returncode != 0 and "E10" in done.stdout + done.stderr

"""Case 5: kill -9 or SIGTERM at any instant of `apply`, `extract` or `train` never leaves a workspace that the
next command cannot recognise and repair.

The slow test kills real processes at random points, many times over (HNI_KILL_ROUNDS per command,
default 8), and checks after each kill that `hni doctor --fix` leaves a sound workspace which is either as
it was before the command or as the command would have left it, and that the command then runs through.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hni_engine.store.doctor import diagnose
from hni_engine.store.layout import Layout

from .checks import tree_digest

ENV = {**os.environ, "HNI_QUIET": "1"}


def _hni(ws: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hni_engine.cli", "-w", str(ws), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def _run(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hni_engine.cli", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )


def _prepare(tiny_extracted: Path, target: Path) -> tuple[Path, str]:
    shutil.copytree(tiny_extracted, target)
    library = json.loads((target / "concepts" / "library.json").read_text())
    name = next(e["name"] for e in library["classes"] if e["graph"]["edges"])
    (target / "edits" / "001.hni").write_text(f"class {name}: drop edges *\n")
    return target, name


def _assert_sound(ws: Path, name: str) -> None:
    assert diagnose(Layout(ws)) == []
    shown = _run(ws, "show", name)
    assert shown.returncode == 0, shown.stderr
    assert "leftover" not in shown.stderr and "Traceback" not in shown.stderr


def test_sigterm_during_apply_leaves_the_workspace_as_it_was(tiny_extracted, tmp_path):
    ws, name = _prepare(tiny_extracted, tmp_path / "ws")
    before = tree_digest(ws, skip=(".hni",))
    proc = _hni(ws, "apply", "--device", "cpu")
    time.sleep(4.0)  # past start-up (about 3 s), inside the stages (the whole apply takes about 7 s)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    # A fast machine finished first (0), or the signal came while the finished process was exiting (-15):
    # then the apply must be whole.
    if proc.returncode in (0, -signal.SIGTERM):
        assert (ws / "runs" / "HEAD").is_file()
    else:
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "terminated" in err
        assert tree_digest(ws, skip=(".hni",)) == before
    _assert_sound(ws, name)


KILLED = {
    "apply": ("apply", "--device", "cpu"),
    "extract": ("extract", "--device", "cpu"),
    "train": ("train", "--force", "--device", "cpu"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(KILLED))
def test_kill_at_random_points(tiny_extracted, tmp_path, command):
    rounds = int(os.environ.get("HNI_KILL_ROUNDS", "8"))
    rng = random.Random(f"kill-{command}")
    ws, name = _prepare(tiny_extracted, tmp_path / "template")
    start = time.monotonic()
    assert _run(ws, *KILLED[command]).returncode == 0
    full = time.monotonic() - start
    outcomes = {"before": 0, "after": 0}
    for round_ in range(rounds):
        target, _ = _prepare(tiny_extracted, tmp_path / f"round{round_}")
        before = tree_digest(target, skip=(".hni",))
        proc = _hni(target, *KILLED[command])
        time.sleep(rng.uniform(0.5, full))
        proc.send_signal(signal.SIGKILL if round_ % 2 == 0 else signal.SIGTERM)
        proc.communicate(timeout=120)
        fixed = _run(target, "doctor", "--fix")
        assert fixed.returncode == 0, (round_, fixed.stdout, fixed.stderr)
        _assert_sound(target, name)
        outcomes["before" if tree_digest(target, skip=(".hni",)) == before else "after"] += 1
        if command == "apply" and (target / "runs" / "HEAD").is_file():
            run = (target / "runs" / "HEAD").read_text().strip()
            assert (target / "runs" / run / "metrics.json").is_file()
        again = _run(target, *KILLED[command])
        assert again.returncode == 0, (round_, again.stderr)
        _assert_sound(target, name)
        shutil.rmtree(target)
    print(f"{command}: {rounds} kills over {full:.1f} s runs; {outcomes}")

"""`hni check`, `hni fmt`, `hni plan`: exit statuses, diagnostics format, and changing nothing on error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hni_engine.cli.app import main

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "examples" / "library.json"
NODE_EDIT = "class fire_engine: replace concept 2 with pool[7]; drop edge 2->4\n"


@pytest.fixture
def workspace(tmp_path):
    """A workspace with the example library and one edit script."""
    (tmp_path / "concepts").mkdir()
    shutil.copy(LIBRARY, tmp_path / "concepts" / "library.json")
    (tmp_path / "edits").mkdir()
    (tmp_path / "edits" / "001_node.hni").write_text(NODE_EDIT)
    return tmp_path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_check_ok_with_workspace_defaults(capsys, workspace):
    status, out, err = run(capsys, "-w", workspace, "check")
    assert status == 0 and err == ""
    assert out.startswith("ok: ") and "0 errors, 0 warnings" in out


def test_check_errors_exit_1_with_compiler_style_diagnostics(capsys, tmp_path):
    script = tmp_path / "bad.hni"
    script.write_text("class fire_engine:\n    replace concept 2 with pool[31]\n")
    status, _out, err = run(capsys, "check", "--library", LIBRARY, script)
    assert status == 1
    lines = err.splitlines()
    assert re.fullmatch(
        rf"{re.escape(str(script))}:2:28: error\[E104\]: pool index 31 is out of range: "
        r"fire_engine has 25 pool concepts \(pool\[1\]\.\.pool\[25\]\)",
        lines[0],
    )
    assert lines[1] == "  replace concept 2 with pool[31]"
    assert lines[2] == "                         ^^^^^^^^"


def test_check_warnings_still_exit_0(capsys, tmp_path):
    script = tmp_path / "warn.hni"
    script.write_text("class fire_engine: replace concept 1 with pool[1]\n")
    status, _out, err = run(capsys, "check", "--library", LIBRARY, script)
    assert status == 0 and "warning[W201]" in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--library", str(LIBRARY), "missing.hni"], "missing.hni: no such script"),
        (["--library", "nowhere.json", "ok.hni"], "nowhere.json: no such file"),
        (["--library", "bad.json", "ok.hni"], "bad.json: not valid JSON"),
        (["--library", str(LIBRARY), "latin1.hni"], "latin1.hni: not UTF-8 text"),
    ],
)
def test_check_input_problems_exit_3(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.hni").write_text(NODE_EDIT)
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "latin1.hni").write_bytes("class caf\xe9: drop edges *".encode("latin-1"))
    status, _, err = run(capsys, "check", *argv)
    assert status == 3 and fragment in err


def test_usage_errors_exit_3(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "--no-such-flag"])
    assert info.value.code == 3
    assert "unrecognized arguments" in capsys.readouterr().err


def test_check_without_scripts_or_edits_folder_exits_3(capsys, tmp_path):
    status, _, err = run(capsys, "-w", tmp_path, "check", "--library", LIBRARY)
    assert status == 3 and "no scripts given" in err


def test_fmt_stdout_check_and_write(capsys, tmp_path):
    messy = tmp_path / "messy.hni"
    messy.write_text("class  tank :drop edges  *\n")
    status, out, _ = run(capsys, "fmt", messy)
    assert status == 0 and out == "class tank: drop edges *\n"
    status, _, err = run(capsys, "fmt", "--check", messy)
    assert status == 1 and f"would reformat {messy}" in err
    status, _, _ = run(capsys, "fmt", "--write", messy)
    assert status == 0 and messy.read_text() == "class tank: drop edges *\n"
    status, _, _ = run(capsys, "fmt", "--check", messy)
    assert status == 0


def test_fmt_syntax_error_leaves_the_file_alone(capsys, tmp_path):
    broken = tmp_path / "broken.hni"
    broken.write_text("class tank drop edges *\n")
    status, _, err = run(capsys, "fmt", "--write", broken)
    assert status == 1 and "error[E001]" in err
    assert broken.read_text() == "class tank drop edges *\n"


def test_plan_exit_statuses_and_outputs(capsys, workspace, tmp_path, monkeypatch):
    status, out, _ = run(capsys, "-w", workspace, "plan")
    assert status == 2
    assert out.startswith("~ fire_engine\n    concept 2: ")
    assert out.endswith("1 class changed; 1 concept replaced, 1 edge dropped\n")

    plan_file = tmp_path / "plan.json"
    status, out, _err = run(capsys, "-w", workspace, "plan", "--json", "-o", plan_file)
    assert status == 2
    assert json.loads(out) == json.loads(plan_file.read_text())
    assert json.loads(out)["scripts"][0]["path"].endswith("001_node.hni")

    # "-o -" is standard output, as without -o: no file named "-" appears
    monkeypatch.chdir(tmp_path)
    status, dashed, _err = run(capsys, "-w", workspace, "plan", "--json", "-o", "-")
    assert status == 2 and json.loads(dashed) == json.loads(out)
    assert not (workspace / "-").exists() and not (tmp_path / "-").exists()

    empty = tmp_path / "empty.hni"
    empty.write_text("# nothing\n")
    status, out, _ = run(capsys, "plan", "--library", LIBRARY, empty)
    assert status == 0 and out == "No changes.\n"


def test_plan_with_an_error_exits_1_and_writes_nothing(capsys, workspace, tmp_path):
    (workspace / "edits" / "002_bad.hni").write_text("class tank: drop concept 9\n")
    library_before = (workspace / "concepts" / "library.json").read_bytes()
    plan_file = tmp_path / "plan.json"
    status, out, err = run(capsys, "-w", workspace, "plan", "-o", plan_file)
    assert status == 1 and out == ""
    assert "002_bad.hni:1:26: error[E102]" in err
    assert not plan_file.exists()
    assert (workspace / "concepts" / "library.json").read_bytes() == library_before


def test_no_command_prints_help_and_exits_3(capsys):
    status, _, err = run(capsys)
    assert status == 3 and "check" in err


# A stand-in for a machine without torch: any `import torch` fails. The language commands must not care.
NO_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name.startswith("torchvision"):
            raise ImportError(f"blocked import of {name}")
sys.meta_path.insert(0, _Block())
from hni_engine.cli.app import main
status = main(sys.argv[1:])
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
sys.exit(status)
"""


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["check", "--library", str(LIBRARY), str(ROOT / "examples" / "dsl_tour.hni")], 0),
        (["fmt", "--check", str(ROOT / "examples" / "dsl_tour.hni")], 0),
        (["plan", "--library", str(LIBRARY), str(ROOT / "examples" / "dsl_tour.hni")], 2),
    ],
)
def test_language_commands_work_without_torch(argv, expected):
    result = subprocess.run([sys.executable, "-c", NO_TORCH, *argv], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == expected, result.stderr


def test_fmt_reads_every_script_before_rewriting_any(tmp_path, capsys):
    """`hni fmt --write a.hni missing.hni` changes nothing: the missing script fails the command first."""
    from hni_engine.cli.app import main

    messy = tmp_path / "a.hni"
    messy.write_text("class tank:   drop edges *\n")
    assert main(["fmt", "--write", str(messy), str(tmp_path / "missing.hni")]) == 3
    assert messy.read_text() == "class tank:   drop edges *\n"
    # no scripts named: the workspace's edits/*.hni, as the other language commands do
    (tmp_path / "edits").mkdir()
    (tmp_path / "edits" / "001.hni").write_text("class tank: drop edges *\n")
    assert main(["fmt", "--check", "-w", str(tmp_path)]) == 0
    assert main(["-w", str(tmp_path / "nowhere"), "fmt", "--check"]) == 3
    assert "needs a script" in capsys.readouterr().err

"""`hni config`: the effective configuration as a table and as JSON, errors that name the file, no torch."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hni_engine.cli.config_command import add_config_parser, cmd_config
from hni_engine.store.config import ConfigError, effective_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "hni.toml").write_text("seed = 7\n[extract]\nclusters = 12\n")
    return tmp_path


def test_table_lists_every_key_with_value_source_and_description(workspace, capsys):
    assert cmd_config(argparse.Namespace(workspace=str(workspace), json=False)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    total = len(effective_settings(workspace / "hni.toml"))
    assert lines[0] == f"{workspace / 'hni.toml'}: 2 of {total} keys set by the file, the others are defaults"
    row_lines = [line for line in lines[1:] if line and not line.startswith((" ", "KEY"))]
    assert len(row_lines) == total
    rows = {line.split()[0]: line.split() for line in row_lines}
    assert rows["seed"] == ["seed", "7", "file"]
    assert rows["extract.clusters"] == ["extract.clusters", "12", "file"]
    assert rows["extract.feature_mode"] == ["extract.feature_mode", '"pool"', "default"]
    assert rows["model.mean"][-1] == "default"
    at = lines.index(next(line for line in lines if line.startswith("extract.clusters ")))
    assert lines[at + 1] == "    k-means clusters per class: the candidate concepts"
    # the source column is aligned (no value here is longer than the value column)
    assert len({line.rindex(" ") for line in row_lines}) == 1


def test_json_is_a_list_of_settings(workspace, capsys):
    assert cmd_config(argparse.Namespace(workspace=str(workspace), json=True)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(set(row) == {"key", "value", "source", "description"} for row in rows)
    by_key = {row["key"]: row for row in rows}
    assert by_key["extract.clusters"] == {
        "key": "extract.clusters",
        "value": 12,
        "source": "file",
        "description": "k-means clusters per class: the candidate concepts",
    }
    assert by_key["extract.segment.n_segments"]["value"] == [15, 50, 80]
    assert [row["key"] for row in rows if row["source"] == "file"] == ["seed", "extract.clusters"]


@pytest.mark.parametrize(
    "text, fragment", [(None, "no such file"), ("seed = [\n", "not valid TOML"), ("[grn]\nlr = 0\n", "field 'grn.lr'")]
)
def test_errors_name_the_file(tmp_path, capsys, text, fragment):
    if text is not None:
        (tmp_path / "hni.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        cmd_config(argparse.Namespace(workspace=str(tmp_path), json=False))
    assert str(info.value).startswith(f"{tmp_path / 'hni.toml'}: ") and fragment in str(info.value)
    assert capsys.readouterr().out == ""


def test_parser_registers_config_with_json_flag():
    parser = argparse.ArgumentParser(prog="hni")
    parser.add_argument("-w", "--workspace", default=".")
    add_config_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["-w", "ws", "config", "--json"])
    assert (args.command, args.handler, args.workspace, args.json) == ("config", "config", "ws", True)
    assert parser.parse_args(["config"]).json is False


# A stand-in for a machine without torch: any `import torch` fails.
NO_TORCH = """
import argparse, sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name.startswith("torchvision"):
            raise ImportError(f"blocked import of {name}")
sys.meta_path.insert(0, _Block())
from hni_engine.cli.config_command import cmd_config
status = cmd_config(argparse.Namespace(workspace=sys.argv[1], json=True))
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
sys.exit(status)
"""


def test_works_without_torch(workspace):
    result = subprocess.run([sys.executable, "-c", NO_TORCH, str(workspace)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert any(row["key"] == "seed" and row["source"] == "file" for row in json.loads(result.stdout))

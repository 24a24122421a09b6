"""`hni config`: the configuration a run in the workspace uses, key by key, and where each value came from.

Imports no torch: the settings come from hni_engine.store.config, which needs only pydantic.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from hni_engine.store.config import Setting, effective_settings, load_config
from hni_engine.store.layout import Layout
from hni_engine.store.recorded import config_mismatches, read_recorded

__all__ = ["add_config_parser", "cmd_config", "render_table"]

HELP = "print the workspace's effective configuration: each hni.toml key, its value, meaning and source"
VALUE_WIDTH = 32  # a longer value pushes its row's source column to the right instead of widening every row


def add_config_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register `hni config` on the `hni` parser's subcommands; `hni_engine.cli.app` dispatches on the name."""
    parser: argparse.ArgumentParser = subparsers.add_parser("config", help=HELP, description=HELP)
    parser.add_argument("--json", action="store_true", help="print a JSON list of {key, value, source, description}")
    parser.set_defaults(handler="config")
    return parser


def render_table(settings: Sequence[Setting]) -> str:
    """Aligned rows of key, value and source, each followed by its description, indented, on its own line;
    a blank line between sections."""
    key_width = max((len(s.key) for s in settings), default=0)
    value_width = min(VALUE_WIDTH, max((len(s.text) for s in settings), default=0))
    lines = [f"{'KEY':<{key_width}}  {'VALUE':<{value_width}}  SOURCE"]
    section = None
    for s in settings:
        here = s.key.rpartition(".")[0]
        if here != section:
            lines.append("")
            section = here
        lines.append(f"{s.key:<{key_width}}  {s.text:<{value_width}}  {s.source}")
        if s.description:
            lines.append(f"    {s.description}")
    return "\n".join(lines) + "\n"


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective configuration of ``args.workspace``'s hni.toml (``args.json``: as a JSON list)."""
    path = os.path.join(args.workspace, "hni.toml")
    settings = effective_settings(path)
    if getattr(args, "json", False):
        rows = [{"key": s.key, "value": s.value, "source": s.source, "description": s.description} for s in settings]
        print(json.dumps(rows, indent=2))
        return 0
    set_here = sum(s.source == "file" for s in settings)
    print(f"{path}: {set_here} of {len(settings)} keys set by the file, the others are defaults\n")
    print(render_table(settings), end="")
    differences = recorded_differences(args.workspace)
    if differences:
        print()
        print("\n".join(differences))
    return 0


def recorded_differences(workspace: str) -> list[str]:
    """A line per earlier stage (`hni train`, `hni extract`) whose recorded configuration differs from
    hni.toml in keys its output depends on: the keys, their values now and then, and what that means."""
    layout = Layout(workspace)
    config = load_config(layout.config_path)
    network = layout.resolve(config.model.checkpoint)
    reports = {"train": (network.with_suffix(".json"), network), "extract": (layout.extract_report_path, None)}
    lines = []
    for stage, (report, described) in reports.items():
        recorded = read_recorded(report, described)
        mismatches = config_mismatches(recorded, config, stage) if recorded is not None else []
        for severity, meaning in (
            ("error", "commands that read its output refuse to run"),
            ("warning", "commands warn and go on"),
        ):
            keys = [str(m) for m in mismatches if m.severity == severity]
            if keys:
                lines.append(f"differs from `hni {stage}` ({report}): {'; '.join(keys)}: {meaning}")
    return lines

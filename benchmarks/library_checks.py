"""Does the library `hni extract` wrote pass the language? For each extracted scenario workspace:
`hni check` with an empty script, then `hni plan` with the scenario's example edit script.

    .venv/bin/python -m benchmarks.library_checks /tmp/hni-bench/*-[0-9]    # workspaces of benchmarks.nn_to_human

The example script is the one `hni demo` applies (hni_engine.oracle.scenario_scripts, written from what each
concept's member patches show). Both are real `hni` commands in a subprocess; `hni plan` exits 2 when the
script changes something, which is what an example script is for. The scripts are written to
WORKSPACE/edits/ and the results to benchmarks/results/library_checks.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from hni_dsl import load_library
from hni_engine.oracle.scenario_scripts import oracle_script
from hni_engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent  # the repository root: commands run there, results go below it


def hni(*argv: str) -> subprocess.CompletedProcess:
    """One `hni` command line in a subprocess, as a user runs it."""
    code = "import sys; from hni_engine.cli.app import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT, check=False)


def check_workspace(path: Path) -> dict:
    ws = Workspace(path)
    library = load_library(ws.library_path)
    ws.edits_dir.mkdir(exist_ok=True)
    empty = ws.edits_dir / "000_empty.hni"
    empty.write_text("# no edits\n", encoding="utf-8")
    scenario = json.loads((path / "data" / "scenario.json").read_text())["scenario"]
    example = ws.edits_dir / f"001_{scenario}.hni"
    example.write_text(oracle_script(ws, library), encoding="utf-8")
    checked = hni("-w", str(path), "check", str(empty))
    planned = hni("-w", str(path), "plan", str(example))
    statements = [line for line in example.read_text().splitlines() if line and not line.startswith("#")]
    return {
        "workspace": str(path),
        "scenario": scenario,
        "check_empty_exit": checked.returncode,
        "plan_example_exit": planned.returncode,
        "example_statements": len(statements),
        "oracle_script": example.read_text(),
        "errors": (checked.stderr + planned.stderr).strip()[-2000:],
        "passed": checked.returncode == 0 and planned.returncode in (0, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspaces", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "library_checks.json")
    args = parser.parse_args()
    rows = []
    for path in args.workspaces:
        if not (path / "concepts" / "library.json").is_file():
            print(f"{path}: skipped, nothing extracted", file=sys.stderr)
            continue
        row = check_workspace(path)
        rows.append(row)
        print(
            f"{path}: check {row['check_empty_exit']}, plan {row['plan_example_exit']} "
            f"({row['example_statements']} statements) -> {'pass' if row['passed'] else 'FAIL'}",
            flush=True,
        )
    args.out.write_text(json.dumps({"benchmark": "library_checks", "runs": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")
    sys.exit(0 if rows and all(r["passed"] for r in rows) else 1)


if __name__ == "__main__":
    main()

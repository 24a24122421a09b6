"""How many of the fault cases (tests/faults: hostile input, forged plans, concurrent writers, kills at
random points, diverging training) hni handles cleanly. Target: all of them.

    .venv/bin/python -m benchmarks.fault_cases              # every fault test, the slow kill test included
    HNI_KILL_ROUNDS=20 .venv/bin/python -m benchmarks.fault_cases

Runs pytest on tests/faults with the slow tests included and counts, per file, the tests that pass. Each
test is one case of the robustness work: a test fails when hni mishandles its case (a traceback, a wrong
result, a changed workspace). Writes benchmarks/results/fault_cases.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fault_cases.json")
    args = parser.parse_args()
    report = args.out.with_suffix(".junit.xml")
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/faults",
            "-m",
            "",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        check=False,
    )
    seconds = time.perf_counter() - start
    cases: Counter[str] = Counter()
    clean: Counter[str] = Counter()
    failed: list[str] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        module = case.get("classname", "").rsplit(".", 1)[-1]
        cases[module] += 1
        if case.find("failure") is None and case.find("error") is None:
            clean[module] += 1
        else:
            failed.append(f"{module}::{case.get('name')}")
    report.unlink()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "fault_cases",
        "cases": sum(cases.values()),
        "handled_cleanly": sum(clean.values()),
        "per_file": {m: {"cases": n, "clean": clean[m]} for m, n in sorted(cases.items())},
        "not_handled": failed,
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "commit": commit,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0 if not failed and result["cases"] else 1)


if __name__ == "__main__":
    main()

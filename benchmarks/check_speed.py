"""Check speed under errors: `hni check`'s work on a 100,000-line script with an error on every line (target < 5 s).

Writes benchmarks/results/check_speed.json (or --out). Run from the repository root:
`.venv/bin/python -m benchmarks.check_speed` (`--lines N` for another size).
Times the whole `hni check` command in process (interpreter start and imports excluded): read the script,
parse, check against the example library (every line names pool[31] of a 25-concept pool, so each is error
E104), and print the first 50 diagnostics and "... and N more". Also times half the lines, so the ratio
shows whether the cost grows in proportion to the script (about 2) or faster.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from hni_engine.cli.app import main as hni

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "examples" / "library.json"
ERROR_LINE = "class fire_engine: replace concept 2 with pool[31]\n"
TARGET_S = 5.0


def check_once(script: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of one `hni check` of ``script`` on the example library, and what it printed.

    The command runs in this process (hni_engine.cli.app.main); CPU time is this process's own, so it stays
    meaningful on a machine busy with other work.
    """
    out, err = io.StringIO(), io.StringIO()
    start, start_cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = hni(["check", "--library", str(LIBRARY), str(script)])
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if status != 1:
        raise SystemExit(f"hni check exited {status}, not 1 (errors), so its time means nothing:\n{err.getvalue()}")
    return wall, cpu, len(out.getvalue()) + len(err.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000, help="lines in the script (default 100000)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "check_speed.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm, half, full = (Path(tmp) / name for name in ("warm.hni", "half.hni", "full.hni"))
        warm.write_text(ERROR_LINE)
        half.write_text(ERROR_LINE * (args.lines // 2))
        full.write_text(ERROR_LINE * args.lines)
        check_once(warm)  # imports and the grammar, once, outside the timings
        half_s, half_cpu_s, _ = check_once(half)
        full_s, full_cpu_s, output_chars = check_once(full)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "check_speed",
        "target_s": TARGET_S,
        "lines": args.lines,
        "check_s": round(full_s, 3),
        "check_cpu_s": round(full_cpu_s, 3),
        "check_half_s": round(half_s, 3),
        "check_half_cpu_s": round(half_cpu_s, 3),
        "ratio_full_to_half_cpu": round(full_cpu_s / half_cpu_s, 2),  # about 2 when the cost is linear
        "output_chars": output_chars,
        "met": full_s < TARGET_S,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "commit": commit,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

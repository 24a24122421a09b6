"""P5: `hni check` + `hni plan` of a generated 1,000-statement script on a 100-class library (target < 1 s).

Writes benchmarks/results/p5_dsl_speed.json (or --out). Run: `make bench`, or from the repository root
`.venv/bin/python -m benchmarks.p5_dsl_speed`.
Measures both the in-process cost (parse + check + plan, best of 5) and the two commands' wall time as a
user runs them (interpreter start and imports included, best of 3).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hni_dsl import make_plan, parse_library, write_library

ROOT = Path(__file__).resolve().parent.parent  # the repository root: commands run there, results go below it

N_CLASSES, POOL, K, N_STATEMENTS, SEED = 100, 25, 4, 1000, 0


def make_library(rng: random.Random) -> dict:
    classes = []
    for c in range(N_CLASSES):
        name = f"class_{c:03d}"
        pool = [{"id": f"{name}/k{k:02d}", "importance": round(1 - k / POOL, 4)} for k in range(POOL)]
        pairs = [(a, b) for a in range(1, K + 1) for b in range(1, K + 1) if a != b]
        edges = [{"src": a, "dst": b, "weight": round(rng.random(), 3)} for a, b in rng.sample(pairs, 6)]
        classes.append(
            {
                "name": name,
                "output_index": c,
                "pool": pool,
                "graph": {"nodes": [p["id"] for p in pool[:K]], "edges": edges},
            }
        )
    return {"format": "hni-library/1", "classes": classes}


def make_script(library: dict, rng: random.Random) -> str:
    """Valid statements, tracked against a shadow of each graph so every one of them checks."""
    shadow = {
        c["name"]: (
            [p["id"] for p in c["pool"]],
            list(c["graph"]["nodes"]),
            {(e["src"], e["dst"]) for e in c["graph"]["edges"]},
        )
        for c in library["classes"]
    }
    names = list(shadow)
    lines = []
    for i in range(N_STATEMENTS):
        if i % 50 == 49:
            parts = ", ".join(f"{rng.choice(names)}.pool[{j}]" for j in rng.sample(range(1, POOL + 1), 3))
            lines.append(f"define class new_{i} from {parts}, edges like {rng.choice(names)}")
            continue
        name = rng.choice(names)
        pool, nodes, edges = shadow[name]
        op = rng.choice(["replace", "drop_edge", "add_edge"])
        if op == "replace":
            slot = rng.randrange(len(nodes))
            choice = rng.choice([j for j, cid in enumerate(pool) if cid not in nodes])
            nodes[slot] = pool[choice]
            lines.append(f"class {name}: replace concept {slot + 1} with pool[{choice + 1}]")
        elif op == "drop_edge" and edges:
            a, b = rng.choice(sorted(edges))
            edges.discard((a, b))
            lines.append(f"class {name}: drop edge {a}->{b}")
        else:
            free = [(a, b) for a in range(1, K + 1) for b in range(1, K + 1) if a != b and (a, b) not in edges]
            a, b = rng.choice(free)
            edges.add((a, b))
            lines.append(f"class {name}: add edge {a}->{b}")
    return "\n".join(lines) + "\n"


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "p5_dsl_speed.json")
    args = parser.parse_args()
    rng = random.Random(SEED)
    library_data = make_library(rng)
    script = make_script(library_data, rng)
    library = parse_library(json.dumps(library_data))
    outcome = make_plan(library, [("bench.hni", script)])
    assert outcome.plan is not None, "the generated script must check"

    in_process = best_of(5, lambda: make_plan(parse_library(json.dumps(library_data)), [("bench.hni", script)]))
    with tempfile.TemporaryDirectory() as tmp:
        lib_path, script_path = Path(tmp) / "library.json", Path(tmp) / "bench.hni"
        write_library(library, lib_path)
        script_path.write_text(script)
        hni = [sys.executable, "-m", "hni_engine.cli"]

        def command(verb: str) -> float:
            def run():
                proc = subprocess.run(
                    hni + [verb, "--library", str(lib_path), str(script_path)],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                # `hni check` exits 0 on a clean script; `hni plan` 2 when it changes something (this one does).
                if proc.returncode not in (0, 2):
                    raise SystemExit(
                        f"hni {verb} failed ({proc.returncode}), so its time means nothing:\n{proc.stderr}"
                    )

            return best_of(3, run)

        check_s, plan_s = command("check"), command("plan")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "P5",
        "target_s": 1.0,
        "statements": script.count("\n"),
        "classes": N_CLASSES,
        "in_process_parse_check_plan_s": round(in_process, 4),
        "cli_check_s": round(check_s, 3),
        "cli_plan_s": round(plan_s, 3),
        "cli_check_plus_plan_s": round(check_s + plan_s, 3),
        # `hni plan` checks too, so one `hni plan` run is check + plan; two separate commands pay the
        # interpreter start and imports twice.
        "met_in_process": in_process < 1.0,
        "met_single_plan_command": plan_s < 1.0,
        "met_check_then_plan_commands": check_s + plan_s < 1.0,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "commit": commit,
        "seed": SEED,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

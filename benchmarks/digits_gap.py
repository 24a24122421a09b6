"""The digits world's gap: the shortcut-trained network against the same network trained without the
shortcut (each digit on a random one of the four photographs, p = 0.25), per seed (`--quick` world).

    .venv/bin/python -m benchmarks.digits_gap --seeds 0 1 2

Both networks train with the scenario's own settings (`hni init --scenario digits --quick`, 36 epochs);
the random-background world is the same world generated with ``own_rate = 0.25``. The gap is what an edit
has to recover (issue: at least half of it). Writes benchmarks/results/digits_gap.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.nn_to_human import run
from hni_engine.cli.init_workspace import init_scenario
from hni_engine.data import synthetic

ROOT = Path(__file__).resolve().parent.parent


def test_accuracy(ws: Path) -> dict:
    report = json.loads((ws / "model" / "base.json").read_text())
    return {"accuracy": report["test_accuracy"], "per_class": report["per_class"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "digits_gap.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hni-gap-") as tmp:
        for seed in args.seeds:
            row: dict = {"seed": seed}
            for label, own_rate in (("shortcut", 0.9), ("random_backgrounds", 0.25)):
                ws = Path(tmp) / f"{label}-{seed}"
                init_scenario(ws, "digits", seed=seed, quick=True)
                if own_rate != 0.9:
                    world = synthetic.WorldConfig.quick(seed=seed)
                    spec = synthetic.digits(world, classes=synthetic.QUICK_DIGITS, own_rate=own_rate)
                    synthetic.generate(spec, ws / "data", overwrite=True)
                run("-w", str(ws), "train", "--device", "cpu")
                row[label] = test_accuracy(ws)
            row["gap_pts"] = round(100 * (row["random_backgrounds"]["accuracy"] - row["shortcut"]["accuracy"]), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"benchmark": "digits_gap", "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

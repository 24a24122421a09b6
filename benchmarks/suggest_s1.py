"""S1: `hni suggest`'s script, accepted blindly, against the oracle script (BENCHMARKS.md, target >= 70 % of
the oracle's gain on every scenario, unedited classes within 1.5 points of no edit).

    .venv/bin/python -m benchmarks.suggest_s1 --quick                       # 4 scenarios x seeds 0 1 2
    .venv/bin/python -m benchmarks.suggest_s1 --quick --scenarios digits --seeds 0

Per scenario and seed, in one quick workspace (benchmarks.human_to_nn.prepare: init, train, extract), every
arm applied to the same extracted network:

- oracle: the scenario's script written from the generator's labels (hni_engine.oracle);
- suggested: `hni suggest`'s script for every class, as printed (commented-out lines stay out), built from
  the library and the network's test results alone;
- no-edit: the unmodified c-SCGs through the same path;
- random-edit: as many random pool replacements and forbids, in the same classes, as the suggestions make;
- extra-data (digits by default, ``--extra-data``): 15 % more unbiased labelled images and a plain
  fine-tune (benchmarks.human_to_nn).

"Edited classes" are the oracle's, so both scripts are scored on the classes the scenario hurts; the
suggested script's own classes are recorded too. Gains are test-accuracy points after minus before.
Zero-shot: `hni suggest --define NEW --from A,B,... --like D` for each class the oracle defines, with the
oracle's part classes and layout class as the user's request; scored by the new classes' test accuracy.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import torch

from benchmarks.human_to_nn import (
    ROOT,
    apply_text,
    extra_data_control,
    prepare,
    random_script_like,
    summary,
)
from hni_dsl import load_library, make_plan
from hni_engine.oracle.scenario_scripts import oracle_script
from hni_engine.present.suggest_script import suggest
from hni_engine.present.suggestions import defined_class
from hni_engine.progress import set_quiet

DEFINE = re.compile(r"define class (\S+) from ([^\n]+?)(?:, edges like (\S+))?\s*$", re.M)


def _gain(s: dict) -> float | None:
    return s.get("edited_change_pts")


def zeroshot_row(ws, library, oracle_text: str) -> dict:
    """The oracle's defined classes, drafted by `suggest --define` from the same part classes."""
    oracle = apply_text(ws, oracle_text, "oracle.hni")
    lines = []
    for new, parts, like in DEFINE.findall(oracle_text):
        part_classes = [p.strip().rsplit(".", 1)[0] for p in parts.split(",")]
        finding = defined_class(library, new, part_classes, like or None)
        if finding.statement is not None and finding.confidence != "low":
            lines.append(finding.statement)
    text = "\n".join(lines) + "\n"
    row: dict = {"oracle_script": oracle_text, "suggested_script": text}
    new = oracle["defined_classes"]
    row["oracle_new_accuracy"] = _mean(oracle["after"]["per_class"], new)
    if not lines:
        row["suggested_new_accuracy"], row["note"] = None, "no define line was drafted with enough evidence"
        return row
    drafted = apply_text(ws, text, "suggested.hni")
    row["suggested_new_accuracy"] = _mean(drafted["after"]["per_class"], drafted["defined_classes"])
    seen = [c for c in drafted["after"]["per_class"] if c not in drafted["defined_classes"]]
    row["suggested_seen_drop_pts"] = round(
        100 * float(np.mean([drafted["before"]["per_class"][c] - drafted["after"]["per_class"][c] for c in seen])), 2
    )
    if row["oracle_new_accuracy"]:
        row["fraction_of_oracle"] = round(row["suggested_new_accuracy"] / row["oracle_new_accuracy"], 3)
    return row


def _mean(per_class: dict, names: list[str]) -> float | None:
    found = [per_class[n] for n in names if n in per_class]
    return round(float(np.mean(found)), 4) if found else None


def one(ws, scenario: str, seed: int, extra_data: bool = False) -> dict:
    library = load_library(ws.library_path)
    oracle_text = oracle_script(ws, library)
    row: dict = {"scenario": scenario, "seed": seed}
    if scenario == "zeroshot":
        return {**row, **zeroshot_row(ws, library, oracle_text)}
    drafted = suggest(library, ws.root / "model" / "base.json")
    row["suggested_script"] = drafted.text
    row["findings"] = [
        {"detector": f.detector, "class": f.class_name, "confidence": f.confidence, "statement": f.statement}
        for f in drafted.findings
    ]
    oracle = apply_text(ws, oracle_text, "oracle.hni")
    edited = oracle["edited_classes"]
    row["edited_classes"] = edited
    row["oracle"] = summary(oracle, edited)
    row["no_edit"] = summary(
        apply_text(ws, "# no edit\n", "no_edit.hni", kind=oracle["kind"], report_as_edited=edited), edited
    )
    outcome = make_plan(library, [("suggested.hni", drafted.text)])
    if outcome.plan is None or not outcome.plan.has_changes:
        row["suggested"] = None
        row["note"] = "the suggestions make no change (every statement commented out or none proposed)"
        return row
    applied = apply_text(ws, drafted.text, "suggested.hni", report_as_edited=edited)
    row["suggested"] = summary(applied, edited)
    row["suggested_own_classes"] = applied["edited_classes"]
    random_text = random_script_like(library, outcome.library_after, seed)
    row["random_script"] = random_text
    if make_plan(library, [("random.hni", random_text)]).plan is not None and random_text.strip():
        row["random_edit"] = summary(apply_text(ws, random_text, "random.hni", report_as_edited=edited), edited)
    if extra_data:
        row["extra_data"] = summary(extra_data_control(ws, edited, seed), edited)
    oracle_gain, drafted_gain = _gain(row["oracle"]), _gain(row["suggested"])
    if oracle_gain:
        row["fraction_of_oracle"] = round(drafted_gain / oracle_gain, 3) if drafted_gain is not None else None
    if row["suggested"].get("unedited_after") is not None and row["no_edit"].get("unedited_after") is not None:
        row["unedited_vs_no_edit_pts"] = round(
            100 * (row["suggested"]["unedited_after"] - row["no_edit"]["unedited_after"]), 2
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["spurious", "posebias", "zeroshot", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workdir", default="/tmp/hni-s1")
    parser.add_argument("--extra-data", nargs="*", default=["digits"], help="scenarios that also get the control")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "suggest_s1.json")
    args = parser.parse_args()
    set_quiet(True)
    torch.set_num_threads(2)
    rows = []
    for seed in args.seeds:  # seeds outer: a run cut short still covers every scenario evenly
        for scenario in args.scenarios:
            ws = prepare(Path(args.workdir), scenario, seed, args.quick)
            rows.append(one(ws, scenario, seed, extra_data=scenario in args.extra_data))
            shown = {k: v for k, v in rows[-1].items() if "script" not in k and k != "findings"}
            print(json.dumps(shown), flush=True)
            args.out.write_text(json.dumps({"benchmark": "suggest_s1", "runs": rows}, indent=2) + "\n")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    doc = {
        "benchmark": "suggest_s1",
        "quick": args.quick,
        "commit": commit.stdout.strip(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, python {platform.python_version()}",
        "runs": rows,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Human -> NN: the HNI paper's three experiments with their controls (BENCHMARKS.md quality targets).

    .venv/bin/python -m benchmarks.human_to_nn                        # 3 scenarios x seeds 0 1 2, default size
    .venv/bin/python -m benchmarks.human_to_nn --quick --seeds 0      # a small smoke version

Run from the repository root. Per scenario and seed, in one workspace of --workdir (default /tmp/hni-bench;
reused from benchmarks.nn_to_human when it exists there):
`hni init --scenario`, `hni train`, `hni extract`; then the scenario's example script
(hni_engine.oracle.scenario_scripts) is applied, and each control is applied to the same base network:

- no-edit: the unmodified c-SCGs through the same path (paper Baseline 1);
- random-edit: as many random pool replacements as the example script makes, in the same classes, and
  as many random `forbid`s of pool concepts outside the c-SCG as it makes;
- extra-data: 15% more labelled, unbiased training images of the edited classes (fresh images from the
  scenario's generator under its test-time distribution), plain fine-tune with the same optimiser, epochs
  and augmentation as distillation (paper Baseline 2).

Zero-shot runs have no controls (nothing else can teach a class without images). Results go to
benchmarks/results/human_to_nn[-quick].json with the machine, commit and settings.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.nn_to_human import run  # the same subprocess runner: one hni command, timed
from hni_dsl import load_library, make_plan
from hni_engine.data import synthetic
from hni_engine.data.image_array import ConcatImages
from hni_engine.data.images import load_image_folder
from hni_engine.data.synthetic.photos import DIGIT_NAMES
from hni_engine.edit.distill import TEMPERATURES, distill
from hni_engine.edit.pipeline import apply_plan_to_network
from hni_engine.network.models import load_checkpoint
from hni_engine.network.training import evaluate
from hni_engine.oracle.scenario_scripts import oracle_script
from hni_engine.progress import set_quiet
from hni_engine.store.runs import current_state, reset_head
from hni_engine.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent  # the repository root: commands run there, results go below it


def prepare(workdir: Path, scenario: str, seed: int, quick: bool) -> Workspace:
    ws = workdir / f"{scenario}-{seed}{'-quick' if quick else ''}"
    if not (ws / "concepts" / "extract.json").is_file():
        shutil.rmtree(ws, ignore_errors=True)
        run("init", str(ws), "--scenario", scenario, "--seed", str(seed), *(["--quick"] if quick else []))
        run("-w", str(ws), "train", "--device", "auto")
        run("-w", str(ws), "extract", "--device", "auto")
    workspace = Workspace(ws)
    shutil.rmtree(workspace.runs_dir, ignore_errors=True)  # every arm starts from the extracted network
    return workspace


def to_base(ws: Workspace) -> None:
    reset_head(ws)


def apply_text(ws: Workspace, text: str, name: str, **overrides) -> dict:
    to_base(ws)
    library = load_library(current_state(ws).library_path)
    outcome = make_plan(library, [(name, text)], str(ws.library_path))
    if outcome.plan is None:
        raise SystemExit(f"{name} does not check:\n" + "\n".join(d.message for d in outcome.diagnostics))
    start = time.perf_counter()
    result = apply_plan_to_network(ws, outcome.plan, outcome.library_after, outcome.sources, device="cpu", **overrides)
    metrics = result.metrics
    metrics["wall_s"] = round(time.perf_counter() - start, 1)
    return metrics


def random_script(
    library,
    example_lib_after,
    rng: np.random.Generator,
    replacements: dict[str, int],
    forbids: dict[str, int] | None = None,
) -> str:
    """As many random pool replacements per class as the example script made there, and as many random
    forbidden pool concepts (from outside the c-SCG) as it forbade."""
    lines = []
    forbids = forbids or {}
    for name in sorted(set(replacements) | set(forbids), key=lambda n: library.class_names.index(n)):
        entry = library.get(name)
        outside = [rank for rank, c in enumerate(entry.pool, start=1) if c.id not in entry.graph.nodes]
        count = min(replacements.get(name, 0), len(outside), len(entry.graph.nodes))
        edits = []
        if count:
            slots = rng.choice(np.arange(1, len(entry.graph.nodes) + 1), size=count, replace=False)
            ranks = rng.choice(outside, size=count, replace=False)
            edits += [f"replace concept {s} with pool[{r}]" for s, r in zip(slots, ranks)]
            outside = [r for r in outside if r not in set(ranks.tolist())]
        banned = min(forbids.get(name, 0), len(outside))
        if banned:
            edits += [f"forbid pool[{r}]" for r in sorted(rng.choice(outside, size=banned, replace=False).tolist())]
        if edits:
            lines.append(f"class {name}: " + "; ".join(edits))
    return "\n".join(lines) + "\n"


def random_script_like(library, after, seed: int) -> str:
    """A random edit of the size of the one that made ``after``: its replacements and forbids, per class."""
    rng = np.random.default_rng(seed)
    return random_script(library, after, rng, replacements_of(library, after), forbids_of(library, after))


def forbids_of(library, after) -> dict[str, int]:
    """How many concepts the example script forbade per class."""
    out = {
        e.name: len(e.forbidden) - len(library.get(e.name).forbidden)
        for e in after.classes
        if library.get(e.name) is not None
    }
    return {k: v for k, v in out.items() if v}


def replacements_of(library, after) -> dict[str, int]:
    out = {}
    for entry in after.classes:
        old = library.get(entry.name)
        if old is not None:
            changed = sum(a != b for a, b in zip(old.graph.nodes, entry.graph.nodes))
            out[entry.name] = changed or (1 if old.graph != entry.graph else 0)
    return {k: v for k, v in out.items() if v}


def extra_data_control(ws: Workspace, edited: list[str], seed: int) -> dict:
    """Plain fine-tune on the training set plus 15% fresh unbiased images of the edited classes."""
    config = ws.config
    manifest = json.loads((ws.root / "data" / "scenario.json").read_text())
    per_class = manifest["config"]["train_per_class"]
    extra = max(1, math.ceil(0.15 * per_class))
    classes = ws.data_classes()
    with tempfile.TemporaryDirectory() as tmp:
        world = synthetic.WorldConfig(
            image_size=manifest["image_size"], train_per_class=1, test_per_class=extra, seed=seed + 10_000
        )
        name = manifest["scenario"]
        spec = (
            synthetic.digits(world, classes=tuple(DIGIT_NAMES.index(c) for c in classes))
            if name in synthetic.PHOTO_SCENARIOS
            else synthetic.scenario(name, world)
        )
        synthetic.generate(spec, Path(tmp) / "data")
        fresh = load_image_folder(Path(tmp) / "data" / "test", config.model.input_size, classes, extra_ok=True)
        fresh = fresh.subset(np.flatnonzero(np.isin(fresh.labels, [classes.index(n) for n in edited])))
        fresh.images = np.asarray(fresh.images[:])  # decoded before the folder goes
    train = ws.load_split("train", classes)
    test = ws.load_split("test", classes)
    combined = type(train)(
        train.classes,
        ConcatImages([train.images, fresh.images]),
        np.concatenate([train.labels, fresh.labels]),
        train.paths + fresh.paths,
        train.root,
        train.digests + fresh.digests,
    )
    base = load_checkpoint(ws.model_path, config.model.arch, classes)
    m, d = config.model, config.distill
    plain = d.model_copy(update={"alpha": 0.0, "beta": 1.0})
    soft = torch.zeros(len(combined), len(classes))
    labels = torch.from_numpy(combined.labels)
    start = time.perf_counter()
    student, _ = distill(
        base.model, combined, soft, labels, plain, TEMPERATURES["node"], m.mean, m.std, seed=config.seed
    )
    before = evaluate(base.model, test, m.mean, m.std)
    after = evaluate(student, test, m.mean, m.std)
    return {
        "extra_images": len(fresh),
        "before": {"per_class": before.per_class},
        "after": {"per_class": after.per_class},
        "wall_s": round(time.perf_counter() - start, 1),
    }


def summary(metrics: dict, edited: list[str]) -> dict:
    before, after = metrics["before"]["per_class"], metrics["after"]["per_class"]
    others = [c for c in after if c not in edited and c in before]

    def mean(d: dict, names: list) -> float | None:
        return float(np.mean([d[n] for n in names])) if names else None

    out = {
        "edited_before": mean(before, edited),
        "edited_after": mean(after, edited),
        "unedited_before": mean(before, others),
        "unedited_after": mean(after, others),
    }
    for key in ("edited", "unedited"):
        if out[f"{key}_before"] is not None:
            out[f"{key}_change_pts"] = round(100 * (out[f"{key}_after"] - out[f"{key}_before"]), 2)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def one(ws: Workspace, scenario: str, seed: int, controls: bool) -> dict:
    library = load_library(ws.library_path)
    text = oracle_script(ws, library)
    (ws.edits_dir / f"001_{scenario}.hni").write_text(text)
    outcome = make_plan(library, [("example.hni", text)])
    row = {"scenario": scenario, "seed": seed, "script": text}
    if outcome.plan is None or not outcome.plan.has_changes:
        row["edit"] = None
        row["note"] = "the example script makes no change: no concept could be replaced by a genuine part"
        return row
    edit = apply_text(ws, text, f"edits/001_{scenario}.hni")
    edited = edit["edited_classes"]
    row["edited_classes"] = edited
    row["kind"] = edit["kind"]
    row["edit"] = {
        **summary(edit, edited),
        "grn_test_accuracy": edit["grn"]["test_accuracy"],
        "per_class_before": edit["before"]["per_class"],
        "per_class_after": edit["after"]["per_class"],
        "wall_s": edit["wall_s"],
        "rebuild": edit["rebuild"],
        "timings_s": edit["timings_s"],
    }
    if scenario == "zeroshot":
        new = edit["defined_classes"]
        seen = [c for c in edit["after"]["per_class"] if c not in new]
        tested_new = [c for c in new if c in edit["after"]["per_class"]]
        row["edit"]["new_classes_accuracy"] = (
            round(float(np.mean([edit["after"]["per_class"][c] for c in tested_new])), 4) if tested_new else None
        )
        row["edit"]["seen_drop_pts"] = round(
            100 * float(np.mean([edit["before"]["per_class"][c] - edit["after"]["per_class"][c] for c in seen])), 2
        )
        return row
    if not controls:
        return row
    row["no_edit"] = summary(
        apply_text(
            ws,
            "# no edit: the unmodified c-SCGs through the same path\n",
            "no_edit.hni",
            kind=edit["kind"],
            report_as_edited=edited,
        ),
        edited,
    )
    random_text = random_script_like(library, outcome.library_after, seed)
    row["random_script"] = random_text
    random_metrics = apply_text(ws, random_text, "random_edit.hni", kind=edit["kind"], report_as_edited=edited)
    row["random_edit"] = summary(random_metrics, edited)
    row["extra_data"] = summary(extra_data_control(ws, edited, seed), edited)
    to_base(ws)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["spurious", "posebias", "zeroshot"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-controls", action="store_true")
    parser.add_argument("--workdir", default="/tmp/hni-bench")
    parser.add_argument("--out", help="result file (default benchmarks/results/human_to_nn[-quick].json)")
    args = parser.parse_args()
    set_quiet(True)
    torch.set_num_threads(2)
    results = []
    for scenario in args.scenarios:
        for seed in args.seeds:
            ws = prepare(Path(args.workdir), scenario, seed, args.quick)
            row = one(ws, scenario, seed, controls=not args.no_controls)
            results.append(row)
            print(json.dumps({k: v for k, v in row.items() if k not in ("script", "random_script")}), flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    doc = {
        "benchmark": "human_to_nn",
        "quick": args.quick,
        "commit": commit,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{'cuda' if torch.cuda.is_available() else 'cpu'}, python {platform.python_version()}",
        "runs": results,
    }
    out = (
        Path(args.out)
        if args.out
        else ROOT / "benchmarks" / "results" / f"human_to_nn{'-quick' if args.quick else ''}.json"
    )
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

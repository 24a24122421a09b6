"""`hni apply` stage by stage: each stage reads what the earlier ones wrote into the context and adds its own."""

from __future__ import annotations

import json
import shutil

import pytest

from hni_dsl import load_library, make_plan
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.pipeline import STAGES
from hni_engine.store.workspace import Workspace

# What each stage must have added to the context when it returns.
ADDS = {
    "resolve": ("state", "library", "current", "extracted", "kind", "edited", "student_classes", "train", "test"),
    "rebuild_graphs": ("analyser", "train_graphs", "test_graphs", "grn_train_labels", "rebuild_report"),
    "synthesize_defined": ("grn_train_set", "grn_train_targets", "synthetic_counts", "composites"),
    "retrain_grn": ("grn", "grn_report", "grn_accuracy", "grn_per_class"),
    "distil": ("student", "distill_report", "distill_summary"),
    "evaluate_before_after": ("before", "after"),
    "compare_with_extraction": ("comparison",),
    "record": ("metrics", "run_id", "run_dir"),
}


@pytest.fixture
def context(tiny_extracted, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(tiny_extracted, root)
    library = load_library(root / "concepts" / "library.json")
    entry = next(e for e in library.classes if e.graph.edges)
    script = (str(root / "edits" / "001.hni"), f"class {entry.name}: drop edges *\n")
    outcome = make_plan(library, [script], str(root / "concepts" / "library.json"))
    assert outcome.plan is not None
    return ApplyContext(Workspace(root), outcome.plan, outcome.library_after, outcome.sources, device="cpu")


def test_the_stages_run_in_the_papers_order():
    assert [stage.__name__ for _, stage in STAGES] == list(ADDS)


def test_each_stage_adds_its_part_of_the_context(context):
    for key, stage in STAGES:
        with pytest.raises(AttributeError):  # not there before the stage that computes it
            getattr(context, ADDS[stage.__name__][0])
        stage(context)
        for name in ADDS[stage.__name__]:
            assert getattr(context, name) is not None or name == "grn_accuracy", f"{stage.__name__} left {name} unset"
        if key is not None:
            context.timings[key] = 0.0
    assert context.kind == "edge" and len(context.edited) == 1
    assert context.rebuild_report["forward_passes_train"] == 0  # every patch came from extraction's cache
    assert (context.ws.runs_dir / "HEAD").read_text().strip() == context.run_id
    metrics = json.loads((context.run_dir / "metrics.json").read_text())
    assert set(metrics["timings_s"]) == {key for key, _ in STAGES if key is not None}
    comparison = json.loads((context.run_dir / "compare.json").read_text())
    assert comparison["b"] == context.run_id and {c["name"] for c in comparison["classes"]} == set(context.grn_names)

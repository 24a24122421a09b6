"""What flows through `hni apply`'s stages: one context object that each stage reads and adds to.

The inputs are set when the context is made; every other field is set by the stage that computes it
(its name is in the comment), so a stage reads only what an earlier stage wrote. A field read before its
stage ran raises AttributeError naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hni_dsl.library import Library
from hni_dsl.plan import Plan
from hni_engine.compute.backend import Backend
from hni_engine.data.images import ImageSet
from hni_engine.discovery.analysis import Analyser, ImagePatches
from hni_engine.edit.distill import DistillReport, Temperatures
from hni_engine.graphs.edge_evidence import EdgeDrop
from hni_engine.graphs.extracted import Extracted
from hni_engine.graphs.grn import GRN, ISCGBatch, TrainReport
from hni_engine.graphs.scg import NodeConcept
from hni_engine.network.models import LoadedModel
from hni_engine.network.training import Evaluation
from hni_engine.store.cache import Cache
from hni_engine.store.config import HniConfig
from hni_engine.store.runs import CurrentState
from hni_engine.store.workspace import Workspace

__all__ = ["ApplyContext", "ApplyResult"]


@dataclass
class ApplyContext:
    # -- inputs -------------------------------------------------------------------------------------
    ws: Workspace
    plan: Plan
    library_after: Library
    sources: dict[str, str]
    device: str = "cpu"
    use_cache: bool = True
    kind_override: str | None = None  # controls: the temperatures of the edit controlled for
    report_as_edited: list[str] | None = None  # controls: the classes reported as edited
    backend: Backend = field(default_factory=lambda: Backend("local"))  # where distillation trains
    timings: dict[str, float] = field(default_factory=dict)

    # -- resolve ------------------------------------------------------------------------------------
    config: HniConfig = field(init=False)
    state: CurrentState = field(init=False)  # the run (or extraction) the plan applies to
    library: Library = field(init=False)  # the current library, before the plan
    current: LoadedModel = field(init=False)  # the current network: teacher 2, and the student's start
    extracted: Extracted = field(init=False)  # extraction's anchors, thresholds and GRN
    extraction_model: LoadedModel = field(init=False)  # the network the cached patch features came from
    base_classes: list[str] = field(init=False)  # the data's classes, in the network's output order
    kind: str = field(init=False)  # zeroshot, node or edge: which temperatures
    temperatures: Temperatures = field(init=False)
    edited: list[str] = field(init=False)  # classes whose graph (or forbidden set) changed
    defined: list[str] = field(init=False)  # classes defined from parts (no images)
    student_classes: list[str] = field(init=False)  # the current network's outputs, then new defined classes
    grn_names: list[str] = field(init=False)  # the GRN's classes, in the library's order
    coi_names: list[str] = field(init=False)  # the GRN's classes that have images
    coi: list[int] = field(init=False)  # their indices among base_classes
    eval_classes: list[str] = field(init=False)  # classes with test images, in the student's order
    train: ImageSet = field(init=False)
    test: ImageSet = field(init=False)  # labels index eval_classes

    # -- rebuild ------------------------------------------------------------------------------------
    cache: Cache = field(init=False)
    analyser: Analyser = field(init=False)
    coi_train: ImageSet = field(init=False)  # training images of the classes with images
    grn_test: ImageSet = field(init=False)  # test images of the GRN's classes
    rows: list[int] = field(init=False)  # candidate row of each GRN class in the patches
    rows_of: dict[str, int] = field(init=False)
    nodes: list[list[NodeConcept]] = field(init=False)
    train_patches: list[ImagePatches] = field(init=False)
    train_graphs: ISCGBatch = field(init=False)
    test_graphs: ISCGBatch = field(init=False)
    grn_train_labels: torch.Tensor = field(init=False)  # (N,) into grn_names
    grn_test_labels: torch.Tensor = field(init=False)
    rebuild_report: dict[str, Any] = field(init=False)

    # -- synthesize ---------------------------------------------------------------------------------
    grn_train_set: ISCGBatch = field(init=False)  # real graphs, then the defined classes' synthesized ones
    grn_train_targets: torch.Tensor = field(init=False)
    synthetic_counts: dict[str, int] = field(init=False)
    composites: list[np.ndarray] = field(init=False)  # defined classes' virtual images, in pixels
    composite_graphs: list[ISCGBatch] = field(init=False)
    composite_labels: list[int] = field(init=False)  # into student_classes

    # -- retrain ------------------------------------------------------------------------------------
    grn: GRN = field(init=False)
    grn_report: TrainReport = field(init=False)
    grn_accuracy: float | None = field(init=False)
    grn_per_class: dict[str, float | None] = field(init=False)
    grn_predicted: torch.Tensor = field(init=False)  # (N,) into grn_names, on grn_test
    edge_drops: dict[str, list[EdgeDrop]] = field(init=False)  # the retrained GRN's weights, edge-drop tested

    grn_fidelity: float | None = field(init=False)  # agreement with the new network (stage 6)

    # -- distil -------------------------------------------------------------------------------------
    student: nn.Module = field(init=False)
    distill_report: DistillReport = field(init=False)
    distill_summary: dict[str, Any] = field(init=False)  # what the metrics say of distillation

    # -- evaluate -----------------------------------------------------------------------------------
    before: Evaluation = field(init=False)
    after: Evaluation = field(init=False)
    metrics: dict[str, Any] = field(init=False)

    # -- compare ------------------------------------------------------------------------------------
    comparison: dict[str, Any] = field(init=False)  # compare.json: the extraction against the new network

    # -- record -------------------------------------------------------------------------------------
    run_id: str = field(init=False)
    run_dir: Path = field(init=False)


@dataclass
class ApplyResult:
    run_id: str
    run_dir: Path
    before: Evaluation
    after: Evaluation
    metrics: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """Per-class test accuracy before and after, edited classes marked."""
        edited = set(self.metrics.get("edited_classes", []))
        width = max(len(c) for c in self.after.classes)
        lines = [f"{'class':<{width}}  before   after   change", "-" * (width + 27)]
        for name in self.after.classes:
            b, a = self.before.per_class[name], self.after.per_class[name]
            mark = "  (edited)" if name in edited else ""
            lines.append(f"{name:<{width}}  {b:6.3f}  {a:6.3f}  {100 * (a - b):+6.1f}{mark}")
        m = self.metrics
        lines.append("-" * (width + 27))
        for key, label in (("edited", "edited classes"), ("unedited", "unedited classes")):
            summary = m["mean_change"].get(key)
            if summary is not None:
                lines.append(
                    f"{label}: mean accuracy {summary['before']:.3f} -> {summary['after']:.3f} "
                    f"({100 * summary['change']:+.1f} pts)"
                )
        return "\n".join(lines)

"""Stage 6 of `hni apply`: per-class test accuracy of the current network and of the student, and the
metrics a run records. The current network has no output for a class defined in this plan."""

from __future__ import annotations

from typing import Any

import numpy as np

from hni_engine import formats
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.teach import as_student
from hni_engine.network.training import Evaluation, evaluate, predict_logits

__all__ = ["evaluate_before_after", "run_metrics"]


def evaluate_before_after(ctx: ApplyContext) -> None:
    m, test, device = ctx.config.model, ctx.test, ctx.device
    columns = [ctx.student_classes.index(n) for n in ctx.eval_classes]
    before_logits = as_student(
        predict_logits(ctx.current.model, test.images, m.mean, m.std, device=device),
        ctx.state.classes,
        ctx.student_classes,
    )[:, columns]
    after_logits = predict_logits(ctx.student.to(device), test.images, m.mean, m.std, device=device)[:, columns]
    ctx.before = evaluate(ctx.current.model, test, m.mean, m.std, logits=before_logits)
    ctx.after = evaluate(ctx.student, test, m.mean, m.std, logits=after_logits)
    # The GRN's fidelity to the new network: how often they agree on the GRN's held-out images, among
    # the GRN's classes (what `hni explain` relies on when it explains the run).
    grn_columns = [ctx.student_classes.index(n) for n in ctx.grn_names]
    student = predict_logits(ctx.student, ctx.grn_test.images, m.mean, m.std, device=device)[:, grn_columns]
    agree = student.argmax(1) == ctx.grn_predicted.cpu()
    ctx.grn_fidelity = float(agree.float().mean()) if len(agree) else None


def _mean_summary(names: list[str], before: Evaluation, after: Evaluation) -> dict[str, Any] | None:
    if not names:
        return None
    b = float(np.mean([before.per_class[n] for n in names]))
    a = float(np.mean([after.per_class[n] for n in names]))
    return {"classes": names, "before": round(b, 4), "after": round(a, 4), "change": round(a - b, 4)}


def run_metrics(ctx: ApplyContext) -> dict[str, Any]:
    """What `runs/<id>/metrics.json` holds (format `hni-run/1`)."""
    before, after, evaluated = ctx.before, ctx.after, ctx.eval_classes
    unedited = [n for n in evaluated if n not in ctx.edited]
    edited = [n for n in ctx.edited if n in evaluated]
    return {
        "format": formats.RUN,
        "kind": ctx.kind,
        "classes": ctx.student_classes,
        "edited_classes": ctx.edited,
        "defined_classes": ctx.defined,
        "before": {"per_class": before.per_class, "accuracy": before.accuracy, "confusion": before.confusion},
        "after": {"per_class": after.per_class, "accuracy": after.accuracy, "confusion": after.confusion},
        "evaluated_classes": evaluated,
        "mean_change": {
            "edited": _mean_summary(edited, before, after),
            "unedited": _mean_summary(unedited, before, after),
        },
        "grn": {
            "classes": ctx.grn_names,
            "test_accuracy": ctx.grn_accuracy,
            "fidelity": None if ctx.grn_fidelity is None else round(ctx.grn_fidelity, 4),
            "per_class": ctx.grn_per_class,
            "best_epoch": ctx.grn_report.best_epoch,
            "val_accuracy": ctx.grn_report.best_val_accuracy,
        },
        "synthetic_graphs": ctx.synthetic_counts,
        "distill": ctx.distill_summary,
        "rebuild": ctx.rebuild_report,
        "timings_s": {k: round(v, 2) for k, v in ctx.timings.items()},
    }

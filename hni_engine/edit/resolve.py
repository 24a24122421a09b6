"""Stage 1 of `hni apply`: what the plan applies to, checked, and who takes part.

The plan must have been made against the current library; the current network must be the one that
library describes, and the extraction's network the one the cached patch features came from. Then: the
kind of edit (which temperatures), the edited and the defined classes, the student's outputs, and the
images.
"""

from __future__ import annotations

import json

from hni_dsl import load_library
from hni_dsl import transforms as tf
from hni_dsl.errors import HniError
from hni_dsl.library import Library, library_sha256
from hni_engine.data.images import scan_image_folder
from hni_engine.edit import distill as kd
from hni_engine.edit.context import ApplyContext
from hni_engine.graphs.extracted import load_extracted
from hni_engine.network.models import load_checkpoint
from hni_engine.progress import bar
from hni_engine.store.runs import current_state

__all__ = ["ApplyError", "changed_classes", "plan_kind", "resolve"]


class ApplyError(HniError):
    """The plan cannot be applied to this workspace's network."""


def plan_kind(transforms: list[tf.Transform]) -> str:
    """Which of the paper's temperature settings a plan calls for (HNI B.4): `zeroshot` when it defines a
    class, `node` when it changes some class's concepts, else `edge`. Each transform says what it changes."""
    changes = {t.changes for t in transforms}
    return "zeroshot" if "classes" in changes else "node" if "nodes" in changes else "edge"


def changed_classes(before: Library, after: Library) -> list[str]:
    out = []
    for entry in after.classes:
        old = before.get(entry.name)
        if old is None or old.graph != entry.graph or old.forbidden != entry.forbidden:
            out.append(entry.name)
    return out


def resolve(ctx: ApplyContext) -> None:
    ws, plan = ctx.ws, ctx.plan
    config = ctx.config = ws.config
    state = ctx.state = current_state(ws)
    library = ctx.library = load_library(state.library_path)
    if library_sha256(library) != plan.library_sha256:
        raise ApplyError(
            f"the plan was made against library {plan.library_sha256[:12]}, but "
            f"{state.library_path} is {library_sha256(library)[:12]}; plan again"
        )
    current = ctx.current = load_checkpoint(state.model_path, config.model.arch, state.classes)
    described = library.meta.get("model_sha256")
    if described and described != current.sha256:
        raise ApplyError(
            f"{state.library_path} describes model {described[:12]}, but {state.model_path} is "
            f"{current.sha256[:12]} (retrained since?); run `hni extract` again"
        )

    # Extraction's concepts and its network: the cached patch features were computed with that network.
    ctx.extracted = load_extracted(ws)
    base = ctx.base_classes = ws.data_classes()
    ctx.extraction_model = current if state.run is None else load_checkpoint(ws.model_path, config.model.arch, base)
    if ctx.extraction_model.sha256 != json.loads(ws.extract_report_path.read_text())["model_sha256"]:
        raise ApplyError(f"{ws.model_path} changed since `hni extract`; run `hni extract` again")

    ctx.kind = ctx.kind_override or plan_kind(list(plan.transforms))
    ctx.temperatures = kd.TEMPERATURES[ctx.kind]
    after = ctx.library_after
    ctx.edited = ctx.report_as_edited if ctx.report_as_edited is not None else changed_classes(library, after)
    # Every defined class (this plan's or an earlier run's) has no images: its graphs are synthesized.
    ctx.defined = [e.name for e in after.classes if e.defined is not None]
    ctx.student_classes = state.classes + [n for n in ctx.defined if n not in state.classes]
    ctx.grn_names = [e.name for e in after.classes]
    ctx.coi_names = [n for n in ctx.grn_names if n not in ctx.defined]
    ctx.coi = [base.index(n) for n in ctx.coi_names]

    # A defined class may have no test images (a user's data): it is then left out of the evaluation.
    tested = set(scan_image_folder(ws.resolve(config.data.test))[0])
    ctx.eval_classes = [n for n in ctx.student_classes if n in tested or n in base]
    with bar(None, "loading images", "img") as progress:
        ctx.train = ws.load_split("train", base, lambda d, t: progress.update(1))
        ctx.test = ws.load_split("test", ctx.eval_classes, lambda d, t: progress.update(1))

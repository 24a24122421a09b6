"""`hni apply`: a checked plan changes the network itself (HNI 3.2, ENGINE.md 5-9).

The steps, each reading what the previous produced:

1. the plan's transforms give the edited library (the caller checked and planned the scripts, or loaded
   and verified a saved plan against the current library);
2. the I-SCGs of the edited classes are rebuilt from the cached patch features of extraction (no forward
   pass of the network when the cache is intact);
3. defined classes get synthesized graphs (hni_engine.zeroshot);
4. the GRN is retrained on the edited graphs with ground-truth labels;
5. partial knowledge distillation into a copy of the current network (hni_engine.distill);
6. before/after evaluation on the test split, and the run folder `runs/<id>/` written atomically; only
   then does `runs/HEAD` move to it. An apply that fails or is interrupted leaves the workspace as it was.

Runs chain like migrations: the current state is the run `runs/HEAD` names (or the extraction when there
is none); its library records the scripts already applied, so applying them again is a no-op.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hni_dsl import load_library
from hni_dsl import transforms as tf
from hni_dsl.errors import HniError
from hni_dsl.fileio import atomic_write_text
from hni_dsl.library import Library, library_sha256, write_library
from hni_dsl.plan import Plan, text_sha256

from hni_engine import formats
from hni_engine.edit import distill as kd
from hni_engine.store.cache import Cache
from hni_engine.data.images import ImageSet, scan_image_folder, turned_copies
from hni_engine.graphs.extract import Analyser, analyse_all, iscg_batch, load_extracted, single_thread
from hni_engine.network.models import LoadedModel, file_sha256, load_checkpoint, save_checkpoint
from hni_engine.progress import bar
from hni_engine.graphs.scg import ImagePatches, NodeConcept, match_nodes
from hni_engine.network.training import Evaluation, evaluate, predict_logits
from hni_engine.store.workspace import Workspace, WorkspaceError

__all__ = ["CurrentState", "current_state", "ApplyResult", "apply_plan_to_network", "edit_kind", "RUN_FORMAT"]

RUN_FORMAT = formats.RUN


class ApplyError(HniError):
    """The plan cannot be applied to this workspace's network."""


# -- where the workspace stands -------------------------------------------------------------------

@dataclass
class CurrentState:
    """The library and network edits apply to: the latest run's, or the extraction's."""

    library_path: Path
    model_path: Path
    classes: list[str]
    run: Optional[str]  # run id, None for the extraction itself


def head_path(ws: Workspace) -> Path:
    return ws.runs_dir / "HEAD"


def current_state(ws: Workspace) -> CurrentState:
    head = head_path(ws)
    run = head.read_text(encoding="utf-8").strip() if head.is_file() else ""
    if run:
        folder = ws.runs_dir / run
        if not (folder / "model.pt").is_file() or not (folder / "library.json").is_file():
            raise WorkspaceError(f"{head}: names run {run!r}, but {folder} is missing or incomplete")
        classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
        return CurrentState(folder / "library.json", folder / "model.pt", list(classes), run)
    if not ws.library_path.is_file():
        raise WorkspaceError(f"{ws.library_path}: no concept library yet (run `hni extract`)")
    return CurrentState(ws.library_path, ws.model_path, ws.data_classes(), None)


def edit_kind(transforms) -> str:
    """Which of the paper's temperature settings a plan calls for: zeroshot, node or edge edits."""
    if any(isinstance(t, tf.DefineClass) for t in transforms):
        return "zeroshot"
    if any(isinstance(t, (tf.ReplaceConcept, tf.AddConcept, tf.DropConcept, tf.ForbidConcept)) for t in transforms):
        return "node"
    return "edge"


def changed_classes(before: Library, after: Library) -> list[str]:
    out = []
    for entry in after.classes:
        old = before.get(entry.name)
        if old is None or old.graph != entry.graph or old.forbidden != entry.forbidden:
            out.append(entry.name)
    return out


# -- the result -----------------------------------------------------------------------------------

@dataclass
class ApplyResult:
    run_id: str
    run_dir: Path
    before: Evaluation
    after: Evaluation
    metrics: dict = field(default_factory=dict)

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
                lines.append(f"{label}: mean accuracy {summary['before']:.3f} -> {summary['after']:.3f} "
                             f"({100 * summary['change']:+.1f} pts)")
        return "\n".join(lines)


# -- graphs from the cache ------------------------------------------------------------------------

def _patches(analyses, n_defined: int, *, context: bool = False) -> list[ImagePatches]:
    """Each image's patches; defined classes have no Grad-CAM, so every patch is a candidate for them.

    Without ``context`` (the default) the nodes carry crop features alone: the edited GRN reasons on the
    concepts alone."""
    out = []
    for a in analyses:
        rows = a.inside > 0
        if n_defined:
            rows = np.concatenate([rows, np.ones((n_defined, rows.shape[1]), dtype=bool)])
        out.append(a.patches(rows, context=context))
    return out


def _mean_summary(names: list[str], before: Evaluation, after: Evaluation) -> Optional[dict]:
    if not names:
        return None
    b = float(np.mean([before.per_class[n] for n in names]))
    a = float(np.mean([after.per_class[n] for n in names]))
    return {"classes": names, "before": round(b, 4), "after": round(a, 4), "change": round(a - b, 4)}


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("hni")
    except Exception:  # running from a source tree that was never installed
        return "0+unknown"


# -- the whole apply ------------------------------------------------------------------------------

def apply_plan_to_network(ws: Workspace, plan: Plan, library_after: Library, sources: dict[str, str], *,
                          device: str = "cpu", use_cache: bool = True, kind: Optional[str] = None,
                          report_as_edited: Optional[list[str]] = None) -> ApplyResult:
    """Run steps 2-6 for a verified plan against ``current_state(ws)``; returns the written run.

    ``kind`` and ``report_as_edited`` exist for controls (benchmarks): an empty plan sent through the
    same path with the temperatures of the edit it controls for, reporting the same classes as edited.
    """
    from hni_engine.graphs.grn import GRN, ClassGraph, ISCGBatch, predict, train_grn  # torch-geometric: only when applying

    config = ws.config
    clock, timings = time.perf_counter(), {}
    state = current_state(ws)
    library = load_library(state.library_path)
    if library_sha256(library) != plan.library_sha256:
        raise ApplyError(f"the plan was made against library {plan.library_sha256[:12]}, but "
                         f"{state.library_path} is {library_sha256(library)[:12]}; plan again")
    current = load_checkpoint(state.model_path, config.model.arch, state.classes)
    described = library.meta.get("model_sha256")
    if described and described != current.sha256:
        raise ApplyError(f"{state.library_path} describes model {described[:12]}, but {state.model_path} is "
                         f"{current.sha256[:12]} (retrained since?); run `hni extract` again")

    # Extraction's concepts and its network: the cached patch features were computed with that network.
    extracted = load_extracted(ws)
    base_classes = ws.data_classes()
    extraction_model = current if state.run is None else load_checkpoint(ws.model_path, config.model.arch,
                                                                          base_classes)
    if extraction_model.sha256 != json.loads(ws.extract_report_path.read_text())["model_sha256"]:
        raise ApplyError(f"{ws.model_path} changed since `hni extract`; run `hni extract` again")

    kind = kind or edit_kind(plan.transforms)
    temperatures = kd.TEMPERATURES[kind]
    edited = report_as_edited if report_as_edited is not None else changed_classes(library, library_after)
    # Every defined class (this plan's or an earlier run's) has no images: its graphs are synthesized.
    defined = [e.name for e in library_after.classes if e.defined is not None]
    student_classes = state.classes + [n for n in defined if n not in state.classes]
    new_outputs = len(student_classes) - len(state.classes)
    grn_names = [e.name for e in library_after.classes]
    coi_names = [n for n in grn_names if n not in defined]
    coi = [base_classes.index(n) for n in coi_names]

    # A defined class may have no test images (a user's data): it is then left out of the evaluation.
    tested = set(scan_image_folder(ws.resolve(config.data.test))[0])
    eval_classes = [n for n in student_classes if n in tested or n in base_classes]
    with bar(None, "loading images", "img") as progress:
        train = ws.load_split("train", base_classes, lambda d, t: progress.update(1))
        test = ws.load_split("test", eval_classes, lambda d, t: progress.update(1))
    timings["load"] = time.perf_counter() - clock

    # 2. I-SCGs from the cache. Test images of defined classes were never analysed: they cost a pass.
    clock = time.perf_counter()
    cache = Cache(ws.cache_dir, enabled=use_cache)
    analyser = Analyser(extraction_model, config, coi, cache, device, str(ws.config_path))
    coi_train = train.subset(np.flatnonzero(np.isin(train.labels, coi)))
    grn_test = test.subset(np.flatnonzero(np.isin([eval_classes[i] for i in test.labels], grn_names)))
    train_an = analyse_all(analyser, coi_train, "reading cached train patches")
    misses_train = cache.misses
    test_an = analyse_all(analyser, grn_test, "reading cached test patches")
    rows_of = {n: coi_names.index(n) if n in coi_names else len(coi_names) + defined.index(n) for n in grn_names}
    nodes = [[NodeConcept(cid, extracted.anchors[cid], extracted.thresholds[cid])
              for cid in library_after.get(n).graph.nodes] for n in grn_names]
    train_patches = _patches(train_an, len(defined))
    test_patches = _patches(test_an, len(defined))
    rows = [rows_of[n] for n in grn_names]
    train_graphs = iscg_batch(train_patches, rows, nodes)
    test_graphs = iscg_batch(test_patches, rows, nodes)
    timings["rebuild"] = time.perf_counter() - clock
    rebuild = {"seconds": round(timings["rebuild"], 3), "forward_passes_train": misses_train,
               "cache": cache.stats()}

    # Labels in the GRN's class order.
    grn_train_labels = torch.tensor([grn_names.index(base_classes[l]) for l in coi_train.labels], dtype=torch.long)
    grn_test_labels = torch.tensor([grn_names.index(eval_classes[l]) for l in grn_test.labels], dtype=torch.long)

    # 3. Synthesized graphs for defined classes.
    clock = time.perf_counter()
    synthetic_counts: dict[str, int] = {}
    if defined:
        batches, labels = [train_graphs], [grn_train_labels]
        composites, composite_graphs, composite_labels = [], [], []
        for name in defined:
            virtual, sources, like_rows = _synthesize_class(
                library_after, name, coi_names, coi_train, base_classes, train_patches, grn_names, rows_of,
                extracted, config, len(defined))
            synthetic_counts[name] = len(virtual)
            graphs_of_class = iscg_batch([v.patches for v in virtual], rows, nodes)
            batches.append(graphs_of_class)
            labels.append(torch.full((len(virtual),), grn_names.index(name), dtype=torch.long))
            if config.distill.composite_images:
                composites.append(_compose_class(virtual, sources, like_rows, coi_train, analyser))
                composite_graphs.append(graphs_of_class)
                composite_labels.extend([student_classes.index(name)] * len(virtual))
        grn_train_set, grn_train_targets = ISCGBatch.cat(batches), torch.cat(labels)
    else:
        grn_train_set, grn_train_targets = train_graphs, grn_train_labels
        composites, composite_graphs, composite_labels = [], [], []
    timings["synthesize"] = time.perf_counter() - clock

    # 4. The GRN retrained on the edited graphs, ground truth.
    clock = time.perf_counter()
    g = config.grn
    graphs = [ClassGraph(n, len(library_after.get(n).graph.nodes),
                         tuple((e.src - 1, e.dst - 1) for e in library_after.get(n).graph.edges)) for n in grn_names]
    with bar(g.epochs, "training the GRN on the edited graphs", "epoch") as progress, single_thread(), \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # the initial weights: not whatever the process drew before
        grn = GRN(graphs, grn_train_set.x.shape[-1])
        grn_report = train_grn(grn, grn_train_set, grn_train_targets, mode="labels", epochs=g.epochs,
                               batch_size=g.batch_size, lr=g.lr, lr_step=g.lr_step, lr_gamma=g.lr_gamma,
                               weight_decay=g.apply_weight_decay, seed=config.seed, device=device,
                               progress=lambda *a: progress.update(1))
    grn_test_pred = predict(grn, test_graphs).argmax(1)
    grn_per_class = {n: float((grn_test_pred[grn_test_labels == i] == i).float().mean())
                     if (grn_test_labels == i).any() else None for i, n in enumerate(grn_names)}
    grn_accuracy = float((grn_test_pred == grn_test_labels).float().mean()) if len(grn_test_labels) else None
    timings["grn"] = time.perf_counter() - clock

    # 5. Partial knowledge distillation.
    clock = time.perf_counter()
    m = config.model
    # Teacher 2 is the current network: its outputs are the current state's classes (a run may add some).
    current.model.to(device)
    original_logits = _as_student(predict_logits(current.model, train.images, m.mean, m.std, device=device),
                                  state.classes, student_classes)
    grn_logits = torch.zeros(len(train), len(grn_names))
    has_graphs = torch.from_numpy(np.isin(train.labels, coi))
    grn_logits[has_graphs] = predict(grn, train_graphs)
    covered = [student_classes.index(n) for n in grn_names]
    soft = kd.combined_soft_label(original_logits, grn_logits, covered, temperatures, has_graphs)
    # Zero-shot distillation uses the GRN's soft labels only (HNI 4.2); other edits add the ground truth.
    hard = None if kind == "zeroshot" else torch.tensor([student_classes.index(base_classes[l]) for l in train.labels])
    distill_set = train

    def teacher_logits(images):  # teacher 2 on extra images, over the student's classes
        return _as_student(predict_logits(current.model, images, m.mean, m.std, device=device), state.classes,
                           student_classes)

    if composites:
        # The defined classes' virtual images in pixels, labelled by the same two teachers (soft only);
        # an earlier run's defined classes keep theirs as ground truth.
        pixels = np.concatenate(composites)
        distill_set, soft, hard = _with_teacher_labelled(
            distill_set, soft, hard, pixels, ["<composite>"] * len(pixels), ["<composite>"] * len(pixels),
            kd.combined_soft_label(teacher_logits(pixels), predict(grn, ISCGBatch.cat(composite_graphs)), covered,
                                   temperatures), torch.tensor(composite_labels, dtype=torch.long))
    d = config.distill
    if d.turns:
        # Rotated copies of the training images, labelled by the two teachers alone: the GRN, retrained on
        # the edited graphs, says what the edit means on poses the training images never show.
        turned, _ = turned_copies(coi_train, d.turns, config.seed)
        turned_an = analyse_all(analyser, turned, "reading cached rotated copies")
        turned_graphs = iscg_batch(_patches(turned_an, len(defined)), rows, nodes)
        distill_set, soft, hard = _with_teacher_labelled(
            distill_set, soft, hard, turned.images, turned.paths, turned.digests,
            kd.combined_soft_label(teacher_logits(turned.images), predict(grn, turned_graphs), covered, temperatures),
            torch.full((len(turned),), -1, dtype=torch.long))
    erase_masks, erased = _removed_concept_masks(library, library_after, edited, coi_names, coi, coi_train,
                                                 train, train_patches, analyser, extracted)
    forbidden = forbidden_concepts(library_after)
    forbidden_masks, forbidden_images = _forbidden_concept_masks(forbidden, library_after, coi_names, coi, coi_train,
                                                                 train, train_patches, analyser, extracted)
    if len(distill_set) > len(train):  # composites carry nothing to erase
        pad = lambda m: None if m is None else torch.cat(  # noqa: E731
            [m, torch.zeros((len(distill_set) - len(train),) + m.shape[1:], dtype=torch.bool)])
        erase_masks, forbidden_masks = pad(erase_masks), pad(forbidden_masks)
    with bar(d.epochs, f"distilling into {m.arch} ({kind} edit)", "epoch") as progress:
        student, distill_report = kd.distill(
            current.model, distill_set, soft, hard, d, temperatures, m.mean, m.std, extra_classes=new_outputs,
            seed=config.seed, device=device, erase_masks=erase_masks, forbidden_masks=forbidden_masks,
            progress=lambda e, n, loss: (progress.update(1), progress.set_postfix(loss=f"{loss:.3f}")))
    timings["distill"] = time.perf_counter() - clock

    # 6. Before / after on the test split (the current network has no output for a defined class).
    clock = time.perf_counter()
    columns = [student_classes.index(n) for n in eval_classes]
    before_logits = _as_student(predict_logits(current.model, test.images, m.mean, m.std, device=device),
                                state.classes, student_classes)[:, columns]
    after_logits = predict_logits(student.to(device), test.images, m.mean, m.std, device=device)[:, columns]
    before = evaluate(current.model, test, m.mean, m.std, logits=before_logits)
    after = evaluate(student, test, m.mean, m.std, logits=after_logits)
    timings["evaluate"] = time.perf_counter() - clock
    unedited = [n for n in eval_classes if n not in edited]
    edited_eval = [n for n in edited if n in eval_classes]
    metrics = {
        "format": RUN_FORMAT,
        "kind": kind,
        "classes": student_classes,
        "edited_classes": edited,
        "defined_classes": defined,
        "before": {"per_class": before.per_class, "accuracy": before.accuracy, "confusion": before.confusion},
        "after": {"per_class": after.per_class, "accuracy": after.accuracy, "confusion": after.confusion},
        "evaluated_classes": eval_classes,
        "mean_change": {"edited": _mean_summary(edited_eval, before, after),
                        "unedited": _mean_summary(unedited, before, after)},
        "grn": {"classes": grn_names, "test_accuracy": grn_accuracy, "per_class": grn_per_class,
                "best_epoch": grn_report.best_epoch, "val_accuracy": grn_report.best_val_accuracy},
        "synthetic_graphs": synthetic_counts,
        "distill": {"temperatures": vars(temperatures), "alpha": d.alpha, "beta": 0.0 if hard is None else d.beta,
                    "epochs": d.epochs, "batch_size": d.batch_size, "lr": d.lr, "optimiser": "SGD",
                    "momentum": d.momentum, "erase_removed": d.erase_removed, "erased_images": erased,
                    "transplant_removed": d.transplant_removed,
                    "forbidden": {n: list(ids) for n, ids in forbidden.items()},
                    "forbidden_images": forbidden_images, "transplant_forbidden": d.transplant_forbidden,
                    "composite_images": int(sum(len(c) for c in composites)), "turns": d.turns,
                    "loss": [round(x, 5) for x in distill_report.loss]},
        "rebuild": rebuild,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    return _write_run(ws, state, current, library, library_after, plan, sources, student, student_classes, grn,
                      metrics, before, after)


def _class_masks(select: dict, coi_names, coi, coi_train: ImageSet, train: ImageSet, train_patches,
                 analyser: Analyser):
    """Per training image, the pixels of the segments ``select[class](patches)`` picks in its class's images.

    Returns ((N, H, W) bool over ``train``, or None when ``select`` is empty; {class: images with
    something picked})."""
    if not select:
        return None, {}
    size = train.images.shape[1]
    masks = torch.zeros(len(train), size, size, dtype=torch.bool)
    position = {digest: i for i, digest in enumerate(train.digests)}
    counts: dict[str, int] = {}
    for name, pick in select.items():
        counts[name] = 0
        for k in np.flatnonzero(coi_train.labels == coi[coi_names.index(name)]):
            segments = pick(train_patches[k])
            if len(segments) == 0:
                continue
            segment_masks = analyser.masks(coi_train.images[k], coi_train.digests[k])  # from the cache
            masks[position[coi_train.digests[k]]] |= torch.from_numpy(segment_masks[segments].any(axis=0))
            counts[name] += 1
    return masks, counts


def _removed_concept_masks(library: Library, library_after: Library, edited, coi_names, coi, coi_train: ImageSet,
                           train: ImageSet, train_patches, analyser: Analyser, extracted):
    """Per training image, the pixels of the concepts the edit removed from that image's class's c-SCG.

    A removed concept is matched (one-to-one, with its own threshold) among the patches of the class's
    images that overlap the class's Grad-CAM: where the network looked. Returns ((N, H, W) bool over
    ``train``, or None when nothing was removed; {class: images with something to erase}).
    """
    select = {}
    for name in edited:
        before, after = library.get(name), library_after.get(name)
        if before is None or after is None or name not in coi_names:
            continue
        gone = [cid for cid in before.graph.nodes if cid not in after.graph.nodes]
        if not gone:
            continue
        anchors = np.stack([extracted.anchors[cid] for cid in gone]).astype(np.float32)
        thresholds = np.array([extracted.thresholds[cid] for cid in gone], dtype=np.float32)
        row = coi_names.index(name)

        def pick(patches, anchors=anchors, thresholds=thresholds, row=row):
            cand = np.flatnonzero(patches.candidates[row])
            hit = match_nodes(patches.features[cand], anchors, thresholds)
            return cand[hit[hit >= 0]]

        select[name] = pick
    return _class_masks(select, coi_names, coi, coi_train, train, train_patches, analyser)


def forbidden_concepts(library: Library) -> dict[str, tuple[str, ...]]:
    """{class: the concepts it is forbidden (`forbid`)}, for the classes that have any."""
    return {e.name: tuple(e.forbidden) for e in library.classes if e.forbidden}


def _forbidden_concept_masks(forbidden: dict[str, tuple[str, ...]], library: Library, coi_names, coi,
                             coi_train: ImageSet, train: ImageSet, train_patches, analyser: Analyser, extracted):
    """Per training image, the pixels of every patch that shows a concept its class is forbidden.

    Unlike a c-SCG slot, which takes one patch, a forbidden concept is erased wherever it shows, since a
    concept is often a piece of an object (a large context object splits into several concepts and many
    segments). A patch of the class's images (Grad-CAM or not, any segmentation scale) shows it when,
    among the class's pool concepts and its forbidden ones, it is the patch's nearest anchor and within
    its own threshold: the threshold alone would also take background that happens to lie near it.
    Returns ((N, H, W) bool over ``train`` or None, {class: images with something to erase})."""
    select = {}
    for name, ids in forbidden.items():
        if name not in coi_names:
            continue
        known = list(dict.fromkeys([c.id for c in library.get(name).pool] + list(ids)))
        anchors = np.stack([extracted.anchors[cid] for cid in known]).astype(np.float32)
        thresholds = np.array([extracted.thresholds[cid] for cid in known], dtype=np.float32)
        is_forbidden = np.isin(known, ids)

        def pick(patches, anchors=anchors, thresholds=thresholds, is_forbidden=is_forbidden):
            features = patches.features[:, :anchors.shape[1]]
            if len(features) == 0:
                return np.zeros(0, dtype=np.int64)
            distance = np.linalg.norm(features[:, None, :] - anchors[None, :, :], axis=2)  # (S, known)
            nearest = distance.argmin(axis=1)
            return np.flatnonzero((distance[np.arange(len(features)), nearest] <= thresholds[nearest])
                                  & is_forbidden[nearest])

        select[name] = pick
    return _class_masks(select, coi_names, coi, coi_train, train, train_patches, analyser)


def _with_teacher_labelled(distill_set: ImageSet, soft: torch.Tensor, hard: Optional[torch.Tensor], images,
                           paths: list[str], digests: list[str], extra_soft: torch.Tensor, extra_hard: torch.Tensor):
    """The student's data with ``images`` appended: their combined soft labels, and as ground truth
    ``extra_hard`` (-1: none) where the run uses any. Returns (distill_set, soft, hard)."""
    grown = ImageSet(distill_set.classes, np.concatenate([distill_set.images, images]),
                     np.concatenate([distill_set.labels, np.full(len(images), -1)]), distill_set.paths + paths,
                     distill_set.root, distill_set.digests + digests)
    return grown, torch.cat([soft, extra_soft]), None if hard is None else torch.cat([hard, extra_hard])


def _as_student(logits: torch.Tensor, classes: list[str], student_classes: list[str]) -> torch.Tensor:
    """Logits over ``student_classes``; classes the network lacks get -inf (no probability)."""
    out = torch.full((len(logits), len(student_classes)), float("-inf"))
    for i, name in enumerate(classes):
        out[:, student_classes.index(name)] = logits[:, i]
    return out


def _synthesize_class(library: Library, name: str, coi_names, coi_train: ImageSet, base_classes, train_patches,
                      grn_names, rows_of, extracted, config, n_defined: int):
    """The defined class's virtual images, where each part's matched patches came from (coi_train
    index, patch) and the coi_train index of each `edges like` image."""
    from hni_engine.edit.zeroshot import part_patches, synthesize

    entry = library.get(name)
    like = entry.defined.edges_like
    m = len(entry.graph.nodes)
    parts, part_sources = [], []
    for cid in entry.graph.nodes:
        owner = cid.split("/")[0]
        if owner not in coi_names:
            raise ApplyError(f"class {name!r}: part {cid} belongs to {owner!r}, which has no extracted images")
        label = base_classes.index(owner)
        owned = np.flatnonzero(coi_train.labels == label)
        found, where = part_patches(NodeConcept(cid, extracted.anchors[cid], extracted.thresholds[cid]),
                                    [train_patches[i] for i in owned], rows_of[owner])
        part_sources.append([(int(owned[k]), patch) for k, patch in where])
        if len(found) == 0:
            raise ApplyError(f"class {name!r}: part {cid} is matched in no training image of {owner!r}; "
                             f"choose another concept")
        parts.append(found)
    like_label = base_classes.index(like)
    like_rows = np.flatnonzero(coi_train.labels == like_label)
    if len(like_rows) == 0:
        raise ApplyError(f"class {name!r}: edges like {like!r}, which has no training images")
    like_images = [train_patches[i] for i in like_rows]
    like_nodes = [NodeConcept(cid, extracted.anchors[cid], extracted.thresholds[cid])
                  for cid in library.get(like).graph.nodes[:m]]
    anchors = np.stack([n.anchor for n in like_nodes]).astype(np.float32)
    thresholds = np.array([n.threshold for n in like_nodes], dtype=np.float32)
    slots = np.full((len(like_images), m), -1, dtype=np.int64)
    for k, image in enumerate(like_images):
        cand = np.flatnonzero(image.candidates[rows_of[like]])
        hit = match_nodes(image.features[cand], anchors, thresholds)
        slots[k, hit >= 0] = cand[hit[hit >= 0]]
    per_class = np.bincount(coi_train.labels)
    count = config.distill.synthetic_per_class or int(round(per_class[per_class > 0].mean()))
    rng = np.random.default_rng([config.seed, grn_names.index(name)])
    try:
        virtual = synthesize(parts, like_images, slots, count, len(coi_names) + n_defined, rng)
    except ValueError as exc:
        raise ApplyError(f"class {name!r}: {exc} (edges like {like!r})") from None
    return virtual, part_sources, like_rows


def _compose_class(virtual, part_sources, like_rows, coi_train: ImageSet, analyser: Analyser) -> np.ndarray:
    """The virtual images in pixels (N, H, W, 3) uint8; segment masks come from the cache."""
    from hni_engine.edit.zeroshot import compose

    masks_of: dict[int, np.ndarray] = {}

    def masks(index: int) -> np.ndarray:
        if index not in masks_of:
            masks_of[index] = analyser.masks(coi_train.images[index], coi_train.digests[index])
        return masks_of[index]

    out = []
    for v in virtual:
        base = int(like_rows[v.base])
        sources, pastes = [], []
        for part, pick, target, centre in v.pastes:
            image_index, patch = part_sources[part][pick]
            sources.append((coi_train.images[image_index], masks(image_index)[patch]))
            pastes.append((target, centre))
        out.append(compose(coi_train.images[base], pastes, sources))
    return np.stack(out) if out else np.zeros((0,) + coi_train.images.shape[1:], np.uint8)


# -- the run folder -------------------------------------------------------------------------------

def _next_run_id(ws: Workspace, digest: str) -> str:
    existing = [p for p in ws.runs_dir.glob("[0-9][0-9][0-9][0-9]-*") if p.is_dir()] if ws.runs_dir.is_dir() else []
    return f"{len(existing) + 1:04d}-{digest[:8]}"


def _write_run(ws: Workspace, state: CurrentState, current: LoadedModel, library: Library, library_after: Library,
               plan: Plan, sources: dict[str, str], student, student_classes, grn, metrics, before, after
               ) -> ApplyResult:
    config = ws.config
    config_sha = file_sha256(ws.config_path)
    inputs = json.dumps([current.sha256, plan.library_sha256, [s.sha256 for s in plan.scripts], config_sha],
                        sort_keys=True)
    run_id = _next_run_id(ws, text_sha256(inputs))
    ws.runs_dir.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{run_id}.partial-", dir=ws.runs_dir))
    built.chmod(0o755)  # mkdtemp's private mode would stay with the renamed run folder
    try:
        m = config.model
        model_sha = save_checkpoint(student, m.arch, student_classes, built / "model.pt", input_size=m.input_size,
                                    mean=list(m.mean), std=list(m.std), seed=config.seed)
        atomic_write_text(built / "classes.json", json.dumps(student_classes, indent=2) + "\n")
        meta = {**library_after.meta, "model_sha256": model_sha, "run": run_id,
                "extracted_model_sha256": library.meta.get("extracted_model_sha256", library.meta.get("model_sha256"))}
        # The network now has an output for each defined class: the library says which.
        entries = tuple(e if e.output_index is not None else e.model_copy(
            update={"output_index": student_classes.index(e.name)}) for e in library_after.classes)
        final_library = Library(classes=entries, applied=library_after.applied, meta=meta)
        write_library(final_library, built / "library.json")
        torch.save({"format": formats.GRN, "classes": metrics["grn"]["classes"], "state": grn.state()},
                   built / "grn.pt")
        atomic_write_text(built / "plan.txt", plan.text)
        atomic_write_text(built / "plan.json", plan.model_dump_json(indent=2) + "\n")
        (built / "scripts").mkdir()
        for i, ref in enumerate(plan.scripts):
            if ref.path in sources:
                atomic_write_text(built / "scripts" / f"{i + 1:02d}_{Path(ref.path).name}", sources[ref.path])
        atomic_write_text(built / "metrics.json", json.dumps(metrics, indent=2, default=float) + "\n")
        provenance = {
            "format": RUN_FORMAT,
            "run": run_id,
            "parent_run": state.run,
            "base_model": {"path": str(state.model_path), "sha256": current.sha256},
            "library_before": {"path": str(state.library_path), "sha256": plan.library_sha256},
            "library_after_sha256": library_sha256(final_library),
            "model_sha256": model_sha,
            "scripts": [{"path": r.path, "sha256": r.sha256, "status": r.status} for r in plan.scripts],
            "config": {"path": str(ws.config_path), "sha256": config_sha, "key": config.key()},
            "seed": config.seed,
            "versions": {"hni": _package_version(), "torch": torch.__version__, "python": platform.python_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_text(built / "provenance.json", json.dumps(provenance, indent=2) + "\n")
        target = ws.runs_dir / run_id
        built.rename(target)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    # The run exists; HEAD moves last, so a failure before this line leaves the current state as it was.
    try:
        atomic_write_text(head_path(ws), run_id + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return ApplyResult(run_id, target, before, after, metrics)

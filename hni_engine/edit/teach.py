"""Stage 5 of `hni apply`: partial knowledge distillation into a copy of the current network (HNI 3.2.3).

Two teachers label each training image: the GRN retrained on the edited graphs speaks for the classes
it covers, the current network for the rest (eq. 1-4, hni_engine.edit.distill). Zero-shot distillation
uses these soft labels alone (HNI 4.2); other edits add the ground truth. The student's data may grow
by the defined classes' virtual images (`distill.composite_images`) and by rotated copies of the
training images (`distill.turns`), both labelled by the teachers alone; the pixels of removed and
forbidden concepts are erased or transplanted while the labels stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from hni_engine.data.image_array import ConcatImages, ImageArray
from hni_engine.data.images import ImageSet, turned_copies
from hni_engine.discovery.analysis import analyse_all, candidate_patches
from hni_engine.edit import distill as kd
from hni_engine.edit.context import ApplyContext
from hni_engine.edit.distill_ray import distill_on_ray
from hni_engine.edit.masks import forbidden_concept_masks, forbidden_concepts, removed_concept_masks
from hni_engine.graphs.grn import ISCGBatch, predict
from hni_engine.graphs.scg import iscg_batch
from hni_engine.network.training import predict_logits
from hni_engine.progress import bar

__all__ = ["as_student", "distil"]


def as_student(logits: torch.Tensor, classes: list[str], student_classes: list[str]) -> torch.Tensor:
    """Logits over ``student_classes``; classes the network lacks get -inf (no probability)."""
    out = torch.full((len(logits), len(student_classes)), float("-inf"))
    for i, name in enumerate(classes):
        out[:, student_classes.index(name)] = logits[:, i]
    return out


@dataclass
class StudentData:
    """The images the student learns from, with their combined soft labels and ground truth (-1: none)."""

    images: ImageSet
    soft: torch.Tensor
    hard: torch.Tensor | None  # None: the run uses no ground truth (zero-shot)

    def append(
        self, images: ImageArray, paths: list[str], digests: list[str], soft: torch.Tensor, hard: torch.Tensor
    ) -> None:
        d = self.images
        self.images = ImageSet(
            d.classes,
            ConcatImages([d.images, images]),  # the split stays on disk; made images join it in memory
            np.concatenate([d.labels, np.full(len(images), -1)]),
            d.paths + paths,
            d.root,
            d.digests + digests,
        )
        self.soft = torch.cat([self.soft, soft])
        self.hard = None if self.hard is None else torch.cat([self.hard, hard])


def _teacher_original(ctx: ApplyContext, images: ImageArray) -> torch.Tensor:
    """Teacher 2, the current network, on ``images``, over the student's classes."""
    m = ctx.config.model
    logits = predict_logits(ctx.current.model, images, m.mean, m.std, device=ctx.device)
    return as_student(logits, ctx.state.classes, ctx.student_classes)


def _labelled_training_set(ctx: ApplyContext) -> StudentData:
    train, covered = ctx.train, [ctx.student_classes.index(n) for n in ctx.grn_names]
    # Teacher 2 is the current network: its outputs are the current state's classes (a run may add some).
    ctx.current.model.to(ctx.device)
    original_logits = _teacher_original(ctx, train.images)
    grn_logits = torch.zeros(len(train), len(ctx.grn_names))
    has_graphs = torch.from_numpy(np.isin(train.labels, ctx.coi))
    grn_logits[has_graphs] = predict(ctx.grn, ctx.train_graphs)
    soft = kd.combined_soft_label(original_logits, grn_logits, covered, ctx.temperatures, has_graphs)
    hard = (
        None
        if ctx.kind == "zeroshot"
        else torch.tensor([ctx.student_classes.index(ctx.base_classes[label]) for label in train.labels])
    )
    return StudentData(train, soft, hard)


def _add_composites(ctx: ApplyContext, data: StudentData) -> None:
    """The defined classes' virtual images in pixels, labelled by the same two teachers (soft only); an
    earlier run's defined classes keep theirs as ground truth."""
    if not ctx.composites:
        return
    covered = [ctx.student_classes.index(n) for n in ctx.grn_names]
    pixels = np.concatenate(ctx.composites)
    soft = kd.combined_soft_label(
        _teacher_original(ctx, pixels), predict(ctx.grn, ISCGBatch.cat(ctx.composite_graphs)), covered, ctx.temperatures
    )
    data.append(
        pixels,
        ["<composite>"] * len(pixels),
        ["<composite>"] * len(pixels),
        soft,
        torch.tensor(ctx.composite_labels, dtype=torch.long),
    )


def _add_turned_copies(ctx: ApplyContext, data: StudentData) -> None:
    """Rotated copies of the training images, labelled by the two teachers alone: the GRN, retrained on the
    edited graphs, says what the edit means on poses the training images never show."""
    turns = ctx.config.distill.turns
    if not turns:
        return
    covered = [ctx.student_classes.index(n) for n in ctx.grn_names]
    turned, _ = turned_copies(ctx.coi_train, turns, ctx.config.seed)
    turned_an = analyse_all(ctx.analyser, turned, "reading cached rotated copies")
    turned_graphs = iscg_batch(candidate_patches(turned_an, len(ctx.defined)), ctx.rows, ctx.nodes)
    soft = kd.combined_soft_label(
        _teacher_original(ctx, turned.images), predict(ctx.grn, turned_graphs), covered, ctx.temperatures
    )
    data.append(turned.images, turned.paths, turned.digests, soft, torch.full((len(turned),), -1, dtype=torch.long))


def _padded(mask: torch.Tensor | None, length: int) -> torch.Tensor | None:
    """Masks over the training images, extended with empty ones for appended images (nothing to erase)."""
    if mask is None or len(mask) == length:
        return mask
    return torch.cat([mask, torch.zeros((length - len(mask),) + mask.shape[1:], dtype=torch.bool)])


def distil(ctx: ApplyContext) -> None:
    data = _labelled_training_set(ctx)
    _add_composites(ctx, data)
    _add_turned_copies(ctx, data)
    erase_masks, erased = removed_concept_masks(ctx)
    forbidden = forbidden_concepts(ctx.library_after)
    forbidden_masks, forbidden_images = forbidden_concept_masks(ctx, forbidden)
    total = len(data.images)
    d, m = ctx.config.distill, ctx.config.model
    where = f" on Ray Train, {ctx.backend.workers} workers" if ctx.backend.distributed else ""
    with bar(d.epochs, f"distilling into {m.arch} ({ctx.kind} edit{where})", "epoch") as progress:
        train = partial(distill_on_ray, ctx.backend, ctx.ws.ray_train_dir) if ctx.backend.distributed else kd.distill
        ctx.student, ctx.distill_report = train(
            ctx.current.model,
            data.images,
            data.soft,
            data.hard,
            d,
            ctx.temperatures,
            m.mean,
            m.std,
            extra_classes=len(ctx.student_classes) - len(ctx.state.classes),
            seed=ctx.config.seed,
            device=ctx.device,
            erase_masks=_padded(erase_masks, total),
            forbidden_masks=_padded(forbidden_masks, total),
            progress=lambda e, n, loss: (progress.update(1), progress.set_postfix(loss=f"{loss:.3f}")),
        )
        progress.update(d.epochs - progress.n)  # Ray Train's workers do not report here: the bar ends full
    ctx.distill_summary = {
        "temperatures": vars(ctx.temperatures),
        "alpha": d.alpha,
        "beta": 0.0 if data.hard is None else d.beta,
        "epochs": d.epochs,
        "batch_size": d.batch_size,
        "lr": d.lr,
        "optimiser": "SGD",
        "momentum": d.momentum,
        "erase_removed": d.erase_removed,
        "erased_images": erased,
        "transplant_removed": d.transplant_removed,
        "forbidden": {n: list(ids) for n, ids in forbidden.items()},
        "forbidden_images": forbidden_images,
        "transplant_forbidden": d.transplant_forbidden,
        "composite_images": int(sum(len(c) for c in ctx.composites)),
        "turns": d.turns,
        "loss": [round(x, 5) for x in ctx.distill_report.loss],
        "compute": ctx.backend.describe(),
    }

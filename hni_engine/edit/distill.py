"""Partial knowledge distillation (HNI 3.2.3, eq. 1-4): the edited reasoning goes back into the network.

Two teachers with different expertise: teacher 1 is the GRN, retrained on the edited c-SCGs, over the
classes it covers (S_I); teacher 2 is the frozen original network over all classes. Their softened
distributions are combined (eq. 3): take teacher 2's, let P_r be its mass on S_I, and replace the S_I
entries by P_r times teacher 1's distribution. The student starts as a copy of the original network and
minimises  L = alpha * L_soft + beta * L_hard  (eq. 1), with L_soft the cross-entropy between the combined
label and the student's distribution at T_S (eq. 2) and L_hard the cross-entropy with the ground truth
(eq. 4). Teacher outputs are computed once per image, before training.

For zero-shot classes the student's output layer grows by one row per new class; the new rows start at
zero weight and zero bias, so the old classes' logits are unchanged and the new classes have no
preference until distillation teaches them (HNI 4.2 uses soft labels only there).

Beyond the paper: with ``erase_removed``, the pixels of the concepts an edit removed from a class's
c-SCG are erased from some of that class's training images in the student's input while the teachers'
labels stay. The edited GRN does not look at those concepts, so this tells the student the same thing:
they are not evidence for the class. Without it the student, shown the same biased images as before,
can keep its shortcut while matching the teachers (measured in BENCHMARKS.md, "Human -> NN").
With ``transplant_removed``, those same pixels are also pasted into images of *other* classes, labels
unchanged: erasing teaches that the concept's absence does not count against its old class, pasting
teaches that its presence does not count for it. A concept a class is forbidden (``forbid``) gets both,
with every patch it matches (not only the one a c-SCG slot would take), since the class must not rely on
it at all: ``erase_removed`` of the class's images lose it, and with probability ``transplant_forbidden``
an image of any class receives it from one of the class's images.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hni_engine.data.image_array import batches
from hni_engine.data.images import ImageSet, to_tensor
from hni_engine.network.guard import LossGuard
from hni_engine.network.precision import mixed_precision
from hni_engine.network.training import augment
from hni_engine.store.config import DistillConfig

__all__ = [
    "TEMPERATURES",
    "DistillReport",
    "Temperatures",
    "combined_soft_label",
    "distill",
    "distillation_loss",
    "erase",
    "grow_classifier",
    "output_layer",
    "transplant",
]


@dataclass(frozen=True)
class Temperatures:
    student: float
    teacher_grn: float
    teacher_original: float


# HNI appendix B.4. The paper gives no T_T2 for edge edits or zero-shot; T_T2 = T_S there, as for nodes.
TEMPERATURES = {
    "node": Temperatures(student=1.0, teacher_grn=1.5, teacher_original=1.0),
    "edge": Temperatures(student=2.0, teacher_grn=2.0, teacher_original=2.0),
    "zeroshot": Temperatures(student=1.5, teacher_grn=1.5, teacher_original=1.5),
}

NEW_CLASS_BIAS = 0.0  # a grown row starts at logit 0: no preference, and gradients reach it at once


def combined_soft_label(
    original_logits: Tensor,
    grn_logits: Tensor,
    covered: Sequence[int],
    t: Temperatures,
    has_graphs: Tensor | None = None,
) -> Tensor:
    """Eq. 3: the combined soft label (N, K) from teacher 2's logits (N, K) and teacher 1's (N, n).

    Args:
        original_logits: the original network's logits over all K student classes (zeros for classes it
            lacks are not allowed: pass -inf there, so they take no mass).
        grn_logits: the GRN's logits over its n classes.
        covered: the student output index of each GRN class (S_I), in the GRN's order.
        has_graphs: (N,) bool, images the GRN can speak for; elsewhere the label is teacher 2's alone.
    """
    p2 = F.softmax(original_logits / t.teacher_original, dim=1)  # (N, K)
    p1 = F.softmax(grn_logits / t.teacher_grn, dim=1)  # (N, n)
    idx = torch.as_tensor(list(covered), dtype=torch.long)
    p_r = p2[:, idx].sum(dim=1, keepdim=True)  # (N, 1): teacher 2's mass on S_I
    combined = p2.clone()
    combined[:, idx] = p_r * p1
    if has_graphs is not None:
        combined = torch.where(has_graphs[:, None], combined, p2)
    return combined


def distillation_loss(
    student_logits: Tensor, soft: Tensor, labels: Tensor | None, *, alpha: float, beta: float, t_student: float
) -> Tensor:
    """Eq. 1-2, 4: alpha * CE(combined soft label, student at T_S) + beta * CE(ground truth, student).

    A label of -1 marks an image without ground truth: it takes the soft term only."""
    log_q = F.log_softmax(student_logits / t_student, dim=1)
    loss = alpha * -(soft * log_q).sum(dim=1).mean()
    if labels is not None and beta > 0:
        known = labels >= 0  # -1: an image with teachers' labels only (a rotated copy, a composite)
        if known.any():
            loss = loss + beta * F.cross_entropy(student_logits[known], labels[known])
    return loss


def output_layer(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """The final linear layer of a torchvision classifier: (its parent, attribute name, the layer)."""
    last: tuple[nn.Module, str, nn.Linear] | None = None
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                last = (parent, name, child)
    if last is None:
        raise ValueError(f"{type(model).__name__}: no linear output layer to grow")
    return last


def grow_classifier(model: nn.Module, extra: int) -> nn.Module:
    """Add ``extra`` output units (in place); the old units' logits are unchanged."""
    if extra <= 0:
        return model
    parent, name, old = output_layer(model)
    new = nn.Linear(old.in_features, old.out_features + extra, bias=True)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[: old.out_features] = old.weight
        new.bias.fill_(NEW_CLASS_BIAS)
        new.bias[: old.out_features] = old.bias if old.bias is not None else 0.0
    setattr(parent, name, new)
    return model


@dataclass
class DistillReport:
    epochs: int
    seconds: float = 0.0
    loss: list[float] = field(default_factory=list)


def erase(x: Tensor, masks: Tensor, rows: Tensor, probability: float, generator: torch.Generator) -> Tensor:
    """Replace the masked pixels of some images by noise with the statistics of the rest of the image.

    A flat fill would keep the erased object's silhouette, which a network can learn as well as the
    object; noise with the image's own per-channel mean and spread reads as more background.

    Args:
        x: (B, 3, H, W) normalised images; masks: (N, H, W) bool for the whole set; rows: (B,) their indices.
    """
    chosen = masks[rows]  # (B, H, W)
    draw = torch.rand(len(rows), generator=generator) < probability
    hit = (chosen & draw[:, None, None])[:, None]  # (B, 1, H, W)
    if not hit.any():
        return x
    keep = (~hit).float()
    count = keep.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (x * keep).sum(dim=(2, 3), keepdim=True) / count  # (B, 3, 1, 1) outside the erased pixels
    spread = (((x - mean) * keep) ** 2).sum(dim=(2, 3), keepdim=True).div(count).sqrt()
    noise = torch.randn(x.shape, generator=generator) * spread + mean
    return torch.where(hit, noise, x)


def transplant(
    x: Tensor,
    fetch: Callable[[Tensor], Tensor],
    masks: Tensor,
    rows: Tensor,
    labels: Tensor,
    probability: float,
    generator: torch.Generator,
) -> Tensor:
    """Paste into some images of the batch the masked pixels of a random image of another class.

    Args:
        x: (B, 3, H, W) the batch; fetch: indices (M,) -> (M, 3, H, W) those images of the set, unaltered
        (decoded only for the donors taken); masks: (N, H, W) bool; rows: (B,) the batch's indices in the
        set; labels: (N,) class of every image (donors differ from the receiving image's class).
    """
    donors = torch.nonzero(masks.flatten(1).any(1)).flatten()
    if len(donors) == 0 or probability <= 0:
        return x
    draw = torch.rand(len(rows), generator=generator) < probability
    pick = donors[torch.randint(len(donors), (len(rows),), generator=generator)]  # (B,)
    take = draw & (labels[pick] != labels[rows])
    if not take.any():
        return x
    pasted = (masks[pick] & take[:, None, None])[:, None]  # (B, 1, H, W)
    donor = x.clone()
    donor[take] = fetch(pick[take])
    return torch.where(pasted, donor, x)


def distill(
    original: nn.Module,
    train: ImageSet,
    soft: Tensor,
    labels: Tensor | None,
    config: DistillConfig,
    temperatures: Temperatures,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    extra_classes: int = 0,
    seed: int = 0,
    device: str = "cpu",
    erase_masks: Tensor | None = None,
    forbidden_masks: Tensor | None = None,
    progress: Callable[[int, int, float], object] | None = None,
    rank: int = 0,
    world: int = 1,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    total_loss: Callable[[float], float] | None = None,
) -> tuple[nn.Module, DistillReport]:
    """Train a copy of ``original`` (grown by ``extra_classes`` outputs) on precomputed soft labels.

    Args:
        soft: (N, K + extra_classes) combined soft labels of the training images.
        labels: (N,) ground-truth student indices, or None for soft labels only (zero-shot).
        erase_masks: (N, H, W) bool, pixels of concepts the edit removed from each image's class; with
            probability ``config.erase_removed`` per image and step they are erased from the student's
            input (before the random translation, so the erased region moves with the image). With
            probability ``config.transplant_removed`` an image also receives another class's masked pixels.
        forbidden_masks: (N, H, W) bool, pixels of the concepts each image's class is forbidden: erased like
            ``erase_masks`` and pasted into other classes' images with probability ``config.transplant_forbidden``.
        rank, world, wrap, total_loss: data-parallel training (edit.distill_ray): this worker trains on every
            ``world``-th image of each batch from ``rank`` on, ``wrap`` makes the model average its gradients
            across workers (DDP), and ``total_loss`` sums an epoch's loss over the workers.
    """
    # Every worker draws what a local run draws (the order, and the erasing, pasting and shifts of the whole
    # batch), then trains on its share of the batch: the inputs are a local run's, split.
    generator = torch.Generator().manual_seed(seed)
    student = grow_classifier(copy.deepcopy(original).cpu(), extra_classes).to(device)
    trained = wrap(student) if wrap is not None else student  # the same parameters, maybe averaged by DDP

    def fetch(rows: Tensor) -> Tensor:
        return to_tensor(train.images[rows.numpy()], mean, std)

    set_labels = torch.from_numpy(train.labels).long()
    hidden = (
        erase_masks
        if forbidden_masks is None
        else (forbidden_masks if erase_masks is None else erase_masks | forbidden_masks)
    )  # what erasing removes
    steps = max(1, -(-len(train) // config.batch_size))
    optimiser = torch.optim.SGD(trained.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs * steps)
    report = DistillReport(epochs=config.epochs)
    start = time.perf_counter()
    guard = LossGuard("distillation")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(config.epochs):
            trained.train()
            order = torch.randperm(len(train), generator=generator)
            chunks = [order[s * config.batch_size : (s + 1) * config.batch_size] for s in range(steps)]
            # BatchNorm needs two samples (per worker); a last sliver joins nothing
            chunks = [c for s, c in enumerate(chunks) if len(c) >= 2 * world or s == 0]
            total = 0.0
            for idx, pixels in zip(chunks, batches(train.images, [c.numpy() for c in chunks])):
                x = to_tensor(pixels, mean, std)
                if hidden is not None and config.erase_removed > 0:
                    x = erase(x, hidden, idx, config.erase_removed, generator)
                if erase_masks is not None and config.transplant_removed > 0:
                    x = transplant(x, fetch, erase_masks, idx, set_labels, config.transplant_removed, generator)
                if forbidden_masks is not None and config.transplant_forbidden > 0:
                    x = transplant(x, fetch, forbidden_masks, idx, set_labels, config.transplant_forbidden, generator)
                if config.augment:
                    x = augment(x, generator)
                x, share = x[rank::world], idx[rank::world]  # this worker's share (all of it when local)
                with mixed_precision(device):
                    logits = trained(x.to(device)).float()
                loss = distillation_loss(
                    logits,
                    soft[share].to(device),
                    labels[share].to(device) if labels is not None else None,
                    alpha=config.alpha,
                    beta=config.beta,
                    t_student=temperatures.student,
                )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward has no annotations
                optimiser.step()
                schedule.step()
                guard.step(loss.item(), epoch + 1)
                total += loss.item() * len(share)
            report.loss.append((total_loss(total) if total_loss is not None else total) / len(train))
            guard.epoch(report.loss[-1], student.parameters())
            if progress is not None:
                progress(epoch + 1, config.epochs, report.loss[-1])
    student.eval()
    report.seconds = time.perf_counter() - start
    return student.cpu(), report

"""Fitting and scoring a GRN: `train_grn` (mimic or label training on a seeded validation split),
`predict`, `fidelity` and the `TrainReport` that training returns."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hni_engine.graphs.grn.batch import ISCGBatch
from hni_engine.graphs.grn.model import GRN
from hni_engine.network.guard import LossGuard

__all__ = ["GRAD_CLIP", "TrainReport", "fidelity", "predict", "single_thread", "train_grn"]

GRAD_CLIP = 5.0
EDGE_LR_FACTOR = 20.0  # the edge weights' learning rate over the rest's, when the L1 prior is on


@dataclass
class TrainReport:
    """What `train_grn` did: loss curves, validation accuracy per epoch and the epoch whose weights were kept.

    val_accuracy is top-1 agreement with the targets: with the original network's argmax in "mimic" mode
    (fidelity), with the labels in "labels" mode.
    """

    mode: str
    epochs: int
    n_train: int
    n_val: int
    seconds: float = 0.0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; the last epoch when there is no validation split

    @property
    def best_val_accuracy(self) -> float | None:
        return self.val_accuracy[self.best_epoch - 1] if self.val_accuracy else None

    def __repr__(self) -> str:
        metric = "fidelity" if self.mode == "mimic" else "accuracy"
        best = f", best epoch {self.best_epoch}: val {metric} {self.best_val_accuracy:.3f}" if self.val_accuracy else ""
        last = f"train loss {self.train_loss[-1]:.4f}" if self.train_loss else "not trained"
        return (
            f"TrainReport(mode={self.mode!r}, {self.epochs} epochs, {self.n_train} train / {self.n_val} val, "
            f"{last}{best}, {self.seconds:.1f} s)"
        )


def _loss(logits: Tensor, targets: Tensor, mode: str, temperature: float) -> Tensor:
    if mode == "mimic":
        # Hinton distillation: KL between softened distributions, x T^2 so gradients keep their scale.
        student = F.log_softmax(logits / temperature, dim=1)
        teacher = F.log_softmax(targets / temperature, dim=1)
        return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * temperature**2
    return F.cross_entropy(logits, targets)


def _correct(logits: Tensor, targets: Tensor, mode: str) -> Tensor:
    wanted = targets.argmax(1) if mode == "mimic" else targets
    return (logits.argmax(1) == wanted).sum()


def _mask_one_concept(present: Tensor, generator: torch.Generator) -> Tensor:
    """VRX augmentation: mark one random present node of each image absent (images with none unchanged)."""
    scores = torch.rand(present.shape, generator=generator).to(present.device)  # (B, T)
    pick = scores.masked_fill(~present, -1.0).argmax(1)  # (B,) a present slot where there is one
    rows = torch.arange(present.shape[0], device=present.device)[present.any(1)]
    masked = present.clone()
    masked[rows, pick[rows]] = False
    return masked


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model: GRN, batch: ISCGBatch, *, batch_size: int = 256) -> Tensor:
    """Logits (N, n_classes) on the CPU, computed in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = _model_device(model)
    try:
        out = [model(batch[s : s + batch_size].to(device)).cpu() for s in range(0, len(batch), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, model.n_classes)


def fidelity(model: GRN, batch: ISCGBatch, original_logits: Tensor) -> float:
    """Top-1 agreement between the GRN and the original network's logits (N, n) on the same images."""
    if len(batch) == 0:
        raise ValueError("fidelity of an empty batch is undefined")
    logits = predict(model, batch)
    return float((logits.argmax(1) == original_logits.cpu().argmax(1)).float().mean())


def _evaluate(
    model: GRN, batch: ISCGBatch, targets: Tensor, mode: str, temperature: float, batch_size: int
) -> tuple[float, float]:
    logits = predict(model, batch, batch_size=max(batch_size, 256))
    targets = targets.cpu()
    return float(_loss(logits, targets, mode, temperature)), float(_correct(logits, targets, mode)) / len(batch)


def _group_split(groups: Tensor, val_fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Validation and training indices, whole groups at a time (the same seeded draw over groups)."""
    names, inverse = torch.unique(groups, return_inverse=True)
    order = torch.randperm(len(names), generator=generator)
    n_val = max(1, round(len(names) * val_fraction)) if val_fraction > 0 and len(names) > 1 else 0
    is_val = torch.zeros(len(names), dtype=torch.bool)
    is_val[order[:n_val]] = True
    val = is_val[inverse]
    return val.nonzero().flatten(), (~val).nonzero().flatten()


def train_grn(
    model: GRN,
    batch: ISCGBatch,
    targets: Tensor,
    *,
    mode: Literal["mimic", "labels"],
    val_fraction: float = 0.2,
    epochs: int = 100,
    batch_size: int = 32,
    lr: float = 0.001,
    lr_step: int = 25,
    lr_gamma: float = 0.8,
    weight_decay: float = 0.0,
    edge_l1: float = 0.0,
    temperature: float = 2.0,
    mask_one_concept: bool = True,
    groups: Tensor | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    rank: int = 0,
    world: int = 1,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    total_loss: Callable[[float], float] | None = None,
) -> TrainReport:
    """Train `model` in place on I-SCGs; keeps the weights that did best on a seeded validation split.

    mode "mimic" (NN -> human): `targets` are the original network's logits on the classes of interest
    (N, n); loss = KL(teacher || GRN) at `temperature` (default 2: softened targets carry the original
    network's ranking of the other classes, which "why not" answers rely on), scaled by T^2.
    mode "labels" (human -> NN): `targets` are class indices (N,); cross-entropy.
    Adam, batch 32, lr x0.8 every 25 epochs, 100 epochs: the HNI/VRX schedule; the learning rate is
    0.001 rather than the papers' 0.01, which was measured to stall at chance level on some seeds
    (see hni_engine.config.GrnConfig). `weight_decay` > 0 makes it AdamW (decoupled decay; 0 is plain
    Adam), which the engine uses against overfitting on small training sets. `edge_l1` adds
    edge_l1 * sum |e_ji| to the loss: a sparsity prior that lets edges the class scores do not use go to 0.
    With `mask_one_concept`, each training image loses one random detected concept per step (VRX); the
    target is unchanged. Deterministic for a given seed; the global RNG state is left untouched.
    `groups` (N,) keeps images of one group on the same side of the validation split (a training image and
    its rotated copies), so validation measures images whose sources were never trained on.
    `progress(epoch, epochs, metrics)` is called after every epoch.
    ``rank``, ``world``, ``wrap``, ``total_loss``: data-parallel training (graphs.grn_ray): every worker draws
    what a local run draws and steps on every ``world``-th image of each batch from ``rank`` on, ``wrap``
    averages the gradients across workers (DDP), ``total_loss`` sums an epoch's loss over them.
    """
    if mode not in ("mimic", "labels"):
        raise ValueError(f"mode must be 'mimic' or 'labels' (got {mode!r})")
    n = len(batch)
    expected = (n, model.n_classes) if mode == "mimic" else (n,)
    if tuple(targets.shape) != expected:
        raise ValueError(f"{mode} targets must have shape {expected} (got {tuple(targets.shape)})")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1) (got {val_fraction})")
    if groups is not None and tuple(groups.shape) != (n,):
        raise ValueError(f"groups must have shape {(n,)} (got {tuple(groups.shape)})")
    targets = targets.float() if mode == "mimic" else targets.long()
    generator = torch.Generator().manual_seed(seed)
    if groups is None:
        order = torch.randperm(n, generator=generator)
        n_val = max(1, round(n * val_fraction)) if val_fraction > 0 and n > 1 else 0
        val_idx, train_idx = order[:n_val], order[n_val:]
    else:
        val_idx, train_idx = _group_split(groups, val_fraction, generator)
        n_val = len(val_idx)
    if len(train_idx) == 0:
        raise ValueError(f"no training images left after the validation split (got {n} images)")

    model.to(device)
    trained = wrap(model) if wrap is not None else model  # the same parameters, maybe averaged by DDP
    train_batch, train_targets = batch[train_idx].to(device), targets[train_idx].to(device)
    val_batch, val_targets = batch[val_idx], targets[val_idx]
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0 (got {weight_decay})")
    # The edge weights e_ji: one number per edge, shared by every layer. At the network's learning rate
    # Adam moves each by about lr per step, so in the epochs run they cannot reach the balance between the
    # class scores and the L1 prior (measured: every weight of a quick extraction within 0.70-0.75 with
    # the prior, 0.96-1.05 without). They get EDGE_LR_FACTOR x lr, and the prior instead of weight decay.
    edge_params = [model.edge_scale]
    other = [p for p in model.parameters() if p is not model.edge_scale]
    edge_group = (
        {"params": edge_params, "lr": lr * EDGE_LR_FACTOR, "weight_decay": 0.0}
        if edge_l1
        else {"params": edge_params, "lr": lr, "weight_decay": weight_decay}
    )
    groups_ = [
        {"params": other, "lr": lr, "weight_decay": weight_decay},
        edge_group,
    ]
    optimiser = torch.optim.AdamW(groups_) if weight_decay else torch.optim.Adam(groups_)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=lr_step, gamma=lr_gamma)
    report = TrainReport(mode=mode, epochs=epochs, n_train=len(train_idx), n_val=n_val)
    best_key: tuple[float, float] = (-math.inf, -math.inf)
    best_state: dict[str, Tensor] | None = None
    start = time.perf_counter()
    # Dropout draws from the global RNG: seed a forked copy so training is repeatable and side-effect free.
    dev = torch.device(device)
    guard = LossGuard("training the GRN")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type=dev.type):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            trained.train()
            perm = torch.randperm(len(train_idx), generator=generator).to(device)
            total = 0.0
            for s in range(0, len(perm), batch_size):
                idx = perm[s : s + batch_size]
                if len(idx) < world:  # a worker would have no share of this sliver
                    continue
                step = train_batch[idx]
                if mask_one_concept:
                    step = ISCGBatch(step.x, _mask_one_concept(step.present, generator), step.pos)
                if world > 1:  # this worker's share of the batch, drawn as a local run draws it
                    share = torch.arange(rank, len(idx), world, device=idx.device)
                    step, idx = step[share], idx[share]
                loss = _loss(trained(step), train_targets[idx], mode, temperature)
                optimiser.zero_grad(set_to_none=True)
                prior = edge_l1 * model.edge_scale.abs().sum() if edge_l1 else 0.0
                (loss + prior).backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward has no annotations
                # A bounded step: the first updates on fresh LayerNorm'd graphs can be large.
                torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                optimiser.step()
                guard.step(loss.item(), epoch)
                total += loss.item() * len(idx)
            schedule.step()
            report.train_loss.append((total_loss(total) if total_loss is not None else total) / len(perm))
            guard.epoch(report.train_loss[-1], model.parameters())
            metrics = {"train_loss": report.train_loss[-1], "lr": optimiser.param_groups[0]["lr"]}
            if n_val:
                val_loss, val_acc = _evaluate(model, val_batch, val_targets, mode, temperature, batch_size)
                report.val_loss.append(val_loss)
                report.val_accuracy.append(val_acc)
                metrics.update(val_loss=val_loss, val_accuracy=val_acc)
                if (val_acc, -val_loss) > best_key:  # best accuracy, ties broken by the lower loss
                    best_key, report.best_epoch = (val_acc, -val_loss), epoch
                    best_state = copy.deepcopy(model.state_dict())
            if progress is not None:
                progress(epoch, epochs, metrics)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        report.best_epoch = epochs
    model.eval()
    report.seconds = time.perf_counter() - start
    return report


@contextmanager
def single_thread() -> Iterator[None]:
    """GRN steps are many small ops: one thread is as fast as two, and on a busy machine much faster."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

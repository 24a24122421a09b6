"""Training the original network from scratch (`hni train`), and evaluating any classifier (`hni eval`).

The demo and users without a model need a base network; it is trained here on the workspace's data with
a plain, seeded loop. Evaluation reports per-class accuracy and the confusion matrix on a split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hni_engine.data.image_array import ImageArray, batches
from hni_engine.data.images import ImageSet, to_tensor
from hni_engine.network.guard import LossGuard
from hni_engine.network.precision import mixed_precision
from hni_engine.store.config import TrainConfig

__all__ = ["Evaluation", "TrainReport", "augment", "evaluate", "predict_logits", "seed_everything", "train_classifier"]


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


@dataclass
class Evaluation:
    classes: list[str]
    per_class: dict[str, float]
    accuracy: float
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def table(self) -> str:
        width = max(len(c) for c in self.classes)
        rows = [f"{name:<{width}}  {self.per_class[name]:.3f}" for name in self.classes]
        return "\n".join(rows + [f"{'mean':<{width}}  {self.accuracy:.3f}"])


@dataclass
class TrainReport:
    epochs: int
    seconds: float
    train_loss: list[float] = field(default_factory=list)
    test: Evaluation | None = None

    def __repr__(self) -> str:
        acc = f", test accuracy {self.test.accuracy:.3f}" if self.test else ""
        return f"TrainReport(epochs={self.epochs}, {self.seconds:.0f} s{acc})"


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the image (reflect padding). No flips: pose can be the label."""
    n, _, h, w = batch.shape
    pad = max(1, h // 8)
    padded = nn.functional.pad(batch, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def train_classifier(
    model: nn.Module,
    train: ImageSet,
    config: TrainConfig,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    seed: int = 0,
    device: str = "cpu",
    test: ImageSet | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainReport:
    """Adam with cosine decay and label smoothing; returns the loss curve and (if given) test metrics."""
    generator = seed_everything(seed)
    model.to(device)
    y_all = torch.from_numpy(train.labels)
    steps_per_epoch = max(1, (len(train) + config.batch_size - 1) // config.batch_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.2
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    report = TrainReport(epochs=config.epochs, seconds=0.0)
    start = time.perf_counter()
    guard = LossGuard("training the network")
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        chunks = [order[s * config.batch_size : (s + 1) * config.batch_size] for s in range(steps_per_epoch)]
        total = 0.0
        for idx, pixels in zip(chunks, batches(train.images, [c.numpy() for c in chunks])):
            x = to_tensor(pixels, mean, std)  # (B, 3, S, S)
            if config.augment:
                x = augment(x, generator)
            with mixed_precision(device):
                logits = model(x.to(device)).float()
            loss = loss_fn(logits, y_all[idx].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            guard.step(loss.item(), epoch + 1)
            total += loss.item() * len(idx)
        report.train_loss.append(total / len(train))
        guard.epoch(report.train_loss[-1], model.parameters())
        if progress is not None:
            progress(epoch + 1, config.epochs, report.train_loss[-1])
    model.eval()
    report.seconds = time.perf_counter() - start
    if test is not None:
        report.test = evaluate(model, test, mean, std, device=device)
    return report


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    images: ImageArray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    device: str = "cpu",
    batch_size: int = 128,
) -> torch.Tensor:
    """Logits (N, C) in eval mode; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    out = []
    order = [np.arange(start, min(start + batch_size, len(images))) for start in range(0, len(images), batch_size)]
    for pixels in batches(images, order):
        with mixed_precision(device):
            out.append(model(to_tensor(pixels, mean, std).to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def evaluate(
    model: nn.Module,
    data: ImageSet,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    device: str = "cpu",
    logits: torch.Tensor | None = None,
) -> Evaluation:
    if logits is None:
        logits = predict_logits(model, data.images, mean, std, device=device)
    predicted = logits.argmax(1).numpy()
    n = len(data.classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (data.labels, predicted), 1)
    per_class = {name: float(confusion[i, i] / max(1, confusion[i].sum())) for i, name in enumerate(data.classes)}
    accuracy = float(np.mean([per_class[c] for c in data.classes]))
    return Evaluation(list(data.classes), per_class, accuracy, confusion.tolist())

"""Stop training that has gone wrong, before its network can be saved or used.

A non-finite loss (an infinite learning rate, an exploding step) or one that has grown far past where it
started means the weights are garbage; training on would only hide it. Every training loop of hni (the
base network, the GRN, distillation) checks each step's loss and each epoch's weights with a LossGuard.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from hni_dsl.errors import HniError

__all__ = ["DIVERGENCE_FACTOR", "DIVERGENCE_SLACK", "LossGuard", "TrainingDiverged"]

# An epoch's mean loss above FACTOR x the first epoch's, plus SLACK nats, counts as diverged. The slack
# keeps a loss that starts near zero (distillation starts from the teacher itself) from tripping it.
DIVERGENCE_FACTOR = 10.0
DIVERGENCE_SLACK = 1.0


class TrainingDiverged(HniError):
    """Training produced a non-finite or diverging loss, or non-finite weights; its result is unusable."""

    def __init__(self, what: str, reason: str):
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class LossGuard:
    """Checks one training run: ``step(loss)`` after each step, ``epoch(mean_loss, params)`` after each epoch."""

    def __init__(self, what: str):
        self.what = what
        self.first_epoch: float | None = None
        self.epochs = 0

    def step(self, loss: float, epoch: int) -> None:
        if not math.isfinite(loss):
            raise TrainingDiverged(self.what, f"the loss became {loss} in epoch {epoch} (check the learning rate)")

    def epoch(self, mean_loss: float, parameters: Iterable[torch.Tensor]) -> None:
        self.epochs += 1
        self.step(mean_loss, self.epochs)
        bad = next((p for p in parameters if not bool(torch.isfinite(p).all())), None)
        if bad is not None:
            raise TrainingDiverged(self.what, f"the weights hold NaN or inf after epoch {self.epochs}")
        if self.first_epoch is None:
            self.first_epoch = mean_loss
        elif mean_loss > DIVERGENCE_FACTOR * self.first_epoch + DIVERGENCE_SLACK:
            raise TrainingDiverged(
                self.what,
                f"the loss diverged: {mean_loss:.4g} in epoch {self.epochs}, up from {self.first_epoch:.4g} in epoch 1",
            )

"""Concept importance by deletion: the drop, its interval, the corrected p-values, on a network whose
reasoning is known (its class logit reads the top half of the image only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hni_engine.discovery.deletion import (
    LogitReader,
    benjamini_hochberg,
    bootstrap_interval,
    erase,
    measure_deletion,
)
from hni_engine.discovery.importance import fill_colour

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


class TopHalf(torch.nn.Module):
    """Class 0's logit is the mean of the top half's red channel; class 1's is constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = x[:, 0, : x.shape[2] // 2].mean(dim=(1, 2)) * 4
        return torch.stack([top, torch.zeros_like(top)], dim=1)


def quadrants(size: int = 8) -> np.ndarray:
    masks = np.zeros((4, size, size), dtype=bool)
    h = size // 2
    masks[0, :h, :h] = masks[1, :h, h:] = masks[2, h:, :h] = masks[3, h:, h:] = True
    return masks


@pytest.fixture
def world() -> dict[str, object]:
    rng = np.random.default_rng(0)
    images = rng.integers(170, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    model = TopHalf()
    with torch.inference_mode():
        from hni_engine.data.images import to_tensor

        logits = model(to_tensor(images, MEAN, STD))[:, 0].tolist()
    return {"images": images, "model": model, "logits": logits}


def _measure(world: dict[str, object], patches: list[dict[int, list[int]]], seed: int = 0, controls: bool = True):  # type: ignore[no-untyped-def]
    images = world["images"]
    assert isinstance(images, np.ndarray)
    masks = quadrants()
    read = LogitReader(world["model"], MEAN, STD, "cpu", batch=5)  # type: ignore[arg-type]
    return measure_deletion(
        list(range(len(images))),
        patches,
        lambda i: images[i],
        lambda i: masks,
        world["logits"],  # type: ignore[arg-type]
        read,
        0,
        fill_colour(MEAN),
        seed,
        controls,
    )


def test_the_concept_the_logit_reads_outranks_one_it_ignores(world: dict[str, object]) -> None:
    n = 16
    top = {i: [0, 1] for i in range(n)}  # the half the class logit reads
    bottom = {i: [2, 3] for i in range(n)}  # the half it ignores
    half_top = {i: [0] for i in range(0, n, 2)}  # a quarter of it, in half of the images
    (t, b, h), summary = _measure(world, [top, bottom, half_top])
    assert t.logit_drop > h.logit_drop > 0
    assert b.logit_drop == pytest.approx(0.0, abs=1e-6)
    assert t.p_value < 0.01 and b.p_value > 0.5
    # Erasing the whole top half removes all the class's evidence (the fill is what the network reads as 0).
    assert t.share == pytest.approx(1.0, abs=1e-4) and b.share == 0.0
    assert t.interval[0] <= t.logit_drop <= t.interval[1]
    assert t.images == n and h.images == n // 2
    # one pass for the blank image, then the concept and the random erasure per image it is present in
    assert summary.forward_passes == 1 + 2 * (n + n + n // 2)
    assert summary.evidence > 0


def test_same_seed_same_evidence_and_the_seed_matters(world: dict[str, object]) -> None:
    patches = [{i: [0] for i in range(16)}, {i: [1, 2] for i in range(16)}]
    first, _ = _measure(world, patches, seed=3)
    again, _ = _measure(world, patches, seed=3)
    other, _ = _measure(world, patches, seed=4)
    assert first == again
    assert [c.interval for c in first] != [c.interval for c in other]


def test_benjamini_hochberg_agrees_with_scipy() -> None:
    rng = np.random.default_rng(1)
    for m in (1, 2, 7, 30):
        p = rng.uniform(0, 0.2, size=m)
        assert benjamini_hochberg(p.tolist()) == pytest.approx(stats.false_discovery_control(p, method="bh"))
    assert benjamini_hochberg([]) == []


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(2)
    few, many = rng.normal(1.0, 1.0, 10), rng.normal(1.0, 1.0, 1000)
    lo, hi = bootstrap_interval(few, np.random.default_rng(0))
    assert lo < few.mean() < hi
    lo2, hi2 = bootstrap_interval(many, np.random.default_rng(0))
    assert hi2 - lo2 < hi - lo
    assert bootstrap_interval(np.zeros(0), np.random.default_rng(0)) == (0.0, 0.0)


def test_erase_fills_only_the_mask_and_leaves_the_input() -> None:
    image = np.full((4, 4, 3), 200, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    out = erase(image, mask, np.array([1, 2, 3], np.uint8))
    assert out[0, 0].tolist() == [1, 2, 3] and (out[1:] == 200).all() and (image == 200).all()
    assert fill_colour((0.485, 0.456, 0.406)).tolist() == [124, 116, 104]


def test_without_controls_the_drops_are_the_same_for_half_the_passes(world: dict[str, object]) -> None:
    """`hni compare` needs the drops only: no random erasures, no p-values."""
    concepts = [{i: [0, 1] for i in range(16)}, {i: [2] for i in range(0, 16, 2)}]
    full, summary = _measure(world, concepts)
    drops_only, fewer = _measure(world, concepts, controls=False)
    assert [c.logit_drop for c in drops_only] == [c.logit_drop for c in full]
    assert all(np.isnan(c.p_value) for c in drops_only)
    assert fewer.forward_passes < summary.forward_passes

"""Concept importance by intervention: erase a concept's patches and measure the drop in the class logit.

TCAV at the last convolutional layer of a global-average-pool + linear head is degenerate (see
discovery.concepts): every concept whose direction raises the logit scores 1. Erasing is not: for each of
the class's discovery images, every segment of the concept's cluster in that image is filled with the
normalisation mean (an input of zero, which the network reads as no content) and the image passes through
the network again (the deletion test of RISE, at the level of concepts as in CRAFT). A concept's patches
in an image are found as the image graphs find them (``assign_patches``).

Per concept:

- ``logit_drop``: the mean drop of the class logit over the class's discovery images (0 where the concept
  is absent, so a rare concept counts for less), with a 95 % bootstrap interval over those images;
- ``share``: that drop over the class's whole evidence (the logit of the image minus the logit of an image
  filled entirely), clipped to [0, 1]: the library's ``importance``;
- ``p_value``: each image's drop against the drop from erasing random segments of the same area in the
  same image (one-sided Wilcoxon signed-rank test, paired by image), Benjamini-Hochberg-adjusted across
  the class's pool. The random erasures also measure what the fill alone does to the logit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from hni_engine.data.images import to_tensor

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "ConceptDeletion",
    "DeletionSummary",
    "assign_patches",
    "benjamini_hochberg",
    "bootstrap_interval",
    "erase",
    "measure_deletion",
]

BOOTSTRAP_RESAMPLES = 1000
METHOD = {
    "importance": "deletion: mean drop of the class logit when the concept's patches are filled with the "
    "normalisation mean, over the class's discovery images, as a share of the class's whole evidence",
    "interval": f"95% bootstrap over images ({BOOTSTRAP_RESAMPLES} resamples), of the logit drop",
    "p_value": "one-sided Wilcoxon signed-rank test of each image's drop against erasing random segments of "
    "the same area in the same image; Benjamini-Hochberg across the class's pool",
}


@dataclass(frozen=True)
class ConceptDeletion:
    logit_drop: float  # mean over the class's discovery images (0 where absent)
    interval: tuple[float, float]  # 95 % bootstrap interval of logit_drop
    share: float  # logit_drop / the class's evidence, in [0, 1]
    p_raw: float  # before the multiple-test correction
    p_value: float  # Benjamini-Hochberg-adjusted
    images: int  # discovery images the concept was erased in
    area: float  # median share of an image the concept's patches cover, where present


@dataclass(frozen=True)
class DeletionSummary:
    evidence: float  # mean logit of the class's images minus the logit of a wholly filled image
    random_drop: float  # mean drop from erasing random segments of a concept's area: what the fill alone does
    forward_passes: int


def assign_patches(
    features: np.ndarray, candidates: np.ndarray, anchors: np.ndarray, thresholds: np.ndarray
) -> list[list[int]]:
    """One image's patches of each concept: the candidate segments nearest to it among ``anchors`` (P, D)
    and within its matching threshold (the rule the image graphs match concepts by, so a concept's
    importance is measured on the patches it is found as in any image).

    Args:
        features: (S, D') patch features, D' >= D (trailing context features are left out).
        candidates: (S,) bool, the segments that may hold the class's concepts.
    """
    out: list[list[int]] = [[] for _ in range(len(anchors))]
    rows = np.flatnonzero(candidates)
    if not len(rows) or not len(anchors):
        return out
    distance = np.linalg.norm(features[rows, None, : anchors.shape[1]] - anchors[None], axis=2)  # (S', P)
    nearest = distance.argmin(axis=1)
    for segment, k, d in zip(rows, nearest, distance[np.arange(len(rows)), nearest]):
        if d <= thresholds[k]:
            out[k].append(int(segment))
    return out


def erase(image: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """A copy of (H, W, 3) ``image`` with the pixels under (H, W) ``mask`` set to ``fill`` (3,) uint8."""
    out = image.copy()
    out[mask] = fill
    return out


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (the step-up false discovery rate procedure)."""
    values = np.asarray(p, dtype=float)
    m = len(values)
    if m == 0:
        return []
    order = np.argsort(values, kind="stable")
    scaled = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]  # the running minimum from the largest p down
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(v) for v in out]


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The 95 % percentile bootstrap interval of the mean of ``values``."""
    if len(values) == 0:
        return 0.0, 0.0
    picks = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    means = values[picks].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def _paired_p(drops: np.ndarray, random_drops: np.ndarray) -> float:
    """One-sided: are the concept's drops larger than same-area random erasures' in the same images?"""
    diff = drops - random_drops
    if len(diff) == 0 or not np.any(diff):
        return 1.0
    p = stats.wilcoxon(diff, alternative="greater", zero_method="zsplit").pvalue
    return 1.0 if np.isnan(p) else float(p)


def _random_area_match(masks: np.ndarray, area: int, rng: np.random.Generator) -> np.ndarray:
    """Random segments of the image, added in random order until their union covers ``area`` pixels."""
    union = np.zeros(masks.shape[1:], dtype=bool)
    for s in rng.permutation(len(masks)):
        if union.sum() >= area:
            break
        union |= masks[s]
    return union


class LogitReader:
    """The class logits of batches of images, in batches of ``batch`` (inference only)."""

    def __init__(self, model: torch.nn.Module, mean: Sequence[float], std: Sequence[float], device: str, batch: int):
        self.model, self.mean, self.std, self.device, self.batch = model, mean, std, device, batch
        self.passes = 0

    def __call__(self, images: Iterator[np.ndarray], label: int) -> list[float]:
        out: list[float] = []
        pending: list[np.ndarray] = []

        def flush() -> None:
            x = to_tensor(np.stack(pending), self.mean, self.std).to(self.device)
            with torch.inference_mode():
                out.extend(self.model(x)[:, label].float().cpu().tolist())
            self.passes += len(pending)
            pending.clear()

        for image in images:
            pending.append(image)
            if len(pending) == self.batch:
                flush()
        if pending:
            flush()
        return out


def measure_deletion(
    images: Sequence[int],
    concept_patches: Sequence[dict[int, list[int]]],
    image_of: Callable[[int], np.ndarray],
    masks_of: Callable[[int], np.ndarray],
    base_logits: Sequence[float],
    read: LogitReader,
    label: int,
    fill: np.ndarray,
    seed: int,
    controls: bool = True,
) -> tuple[list[ConceptDeletion], DeletionSummary]:
    """Deletion evidence for each concept of one class.

    Args:
        images: the class's discovery images (ids understood by the callables).
        concept_patches: per concept, {image id: segment ids of the concept's cluster in that image}.
        image_of, masks_of: an image's (H, W, 3) pixels and (S, H, W) segment masks.
        base_logits: each image's class logit as the analysis pass recorded it.
        read: runs the network.
        label: the class's output index.
        fill: (3,) uint8 fill colour.
        controls: also erase same-area random segments (the p-values' control); without them only the drops
            and their intervals are measured (half the forward passes), and every p-value is nan.
    """
    rng = np.random.default_rng(seed)
    passes_before = read.passes
    base = np.asarray(base_logits, dtype=float)
    shape = image_of(images[0]).shape if len(images) else (1, 1, 3)
    blank = read(iter([np.broadcast_to(fill, shape).astype(np.uint8)]), label)[0]
    evidence = float(np.mean(base - blank)) if len(images) else 0.0

    # Image by image: each image's masks are decoded once and its erased copies run as one batch.
    drops = np.zeros((len(concept_patches), len(images)))  # 0 where the concept is absent
    random_drops = np.full((len(concept_patches), len(images)), np.nan)  # only where it is present
    areas = np.full((len(concept_patches), len(images)), np.nan)
    for k, i in enumerate(images):
        present = [c for c, patches in enumerate(concept_patches) if patches.get(i)]
        if not present:
            continue
        masks, image = masks_of(i), image_of(i)
        erased, random = [], []
        for c in present:
            concept_mask = np.asarray(masks[concept_patches[c][i]].any(axis=0))
            areas[c, k] = concept_mask.mean()
            erased.append(erase(image, concept_mask, fill))
            if controls:
                random.append(erase(image, _random_area_match(masks, int(concept_mask.sum()), rng), fill))
        logits = read(iter(erased + random), label)
        drops[present, k] = base[k] - np.asarray(logits[: len(present)])
        random_drops[present, k] = base[k] - np.asarray(logits[len(present) :]) if controls else 0.0
    found = []
    for c in range(len(concept_patches)):
        where = ~np.isnan(random_drops[c])
        found.append((drops[c], drops[c][where], random_drops[c][where], areas[c][where]))

    raw = [_paired_p(present, random) if controls else float("nan") for _, present, random, _ in found]
    adjusted = benjamini_hochberg(raw) if controls else raw
    results = []
    for (every, present, _, area), p_raw, p_adj in zip(found, raw, adjusted):
        mean = float(every.mean()) if len(every) else 0.0
        share = min(1.0, max(0.0, mean / evidence)) if evidence > 0 else 0.0
        interval = bootstrap_interval(every, rng)
        median_area = float(np.median(area)) if len(area) else 0.0
        results.append(ConceptDeletion(mean, interval, share, p_raw, p_adj, len(present), median_area))
    all_random = np.concatenate([r for _, _, r, _ in found]) if found and controls else np.zeros(0)
    summary = DeletionSummary(
        evidence, float(all_random.mean()) if len(all_random) else 0.0, read.passes - passes_before
    )
    return results, summary

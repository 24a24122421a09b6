"""Multi-resolution SLIC segmentation: the candidate patches concepts are made of (HNI 3.1, B.2; ACE).

An image is cut into superpixels with SLIC (Achanta et al. 2012) at several resolutions (ACE's published
values: 15, 50 and 80 segments, compactness 20, sigma 1.0, for 224-299 px images). Each superpixel becomes
a boolean mask. Masks smaller than ``min_area`` of the image are dropped, and a mask whose Jaccard index
with a mask kept from an earlier resolution exceeds ``dedupe_jaccard`` is dropped as a near-duplicate,
exactly ACE's rule (masks of one resolution are disjoint, so they never duplicate each other).

Differences from the official ACE code, on purpose:

- Every label is used. Current scikit-image numbers SLIC labels from 1; the official code looped over
  ``range(segments.max())`` with labels assumed to start at 0, so one segment per resolution was lost
  (and label 0 matched nothing). We pass ``start_label=1`` explicitly and take labels 1..max.
- Small images. ``n_segments`` is kept at any size: a part is the same fraction of an object whether the
  image has 64 or 224 pixels a side, so the same counts give segments of the same relative size (80
  segments at 64 px are ~50 px each, about 7x7: small but still a blob with a colour and a shape, and
  above the 0.1% area floor of ~4 px). ``compactness`` needs no change either: skimage
  divides spatial distances by the grid step, so it is scale-free. ``sigma`` is not scale-free: it is a
  Gaussian pre-smoothing width in *pixels*, so we scale it by ``min(1, min(H, W) / reference_size)``,
  i.e. 1.0 px at 224 px becomes ~0.29 px at 64 px. Unscaled, it would blur a 64 px image as much as a
  3.5 px blur blurs a 224 px one and smear thin parts into their background. Larger images keep the
  published sigma, as ACE did for 299 px.

SLIC is deterministic (grid initialisation, no random draws), so the same image and config always give
the same masks, in the same order: by resolution (in ``n_segments`` order), then by label.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np
import skimage
from skimage.segmentation import slic

__all__ = ["SegmentationConfig", "mask_centres", "masks_inside", "masks_overlapping", "segment"]

# Bumped when the algorithm below changes in a way that changes its masks, so cached results are missed.
_ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class SegmentationConfig:
    """Parameters of :func:`segment`; the defaults are ACE's published values.

    Attributes:
        n_segments: SLIC's target segment count, one entry per resolution.
        compactness: SLIC's colour/space trade-off (higher: squarer segments).
        sigma: Gaussian pre-smoothing width in pixels at ``reference_size``; scaled down for smaller
            images (see the module docstring).
        min_area: drop masks covering at most this fraction of the image.
        dedupe_jaccard: drop a mask whose Jaccard index with an already kept one is above this.
        reference_size: image side the published ``sigma`` was tuned for.
    """

    n_segments: tuple[int, ...] = (15, 50, 80)
    compactness: float = 20.0
    sigma: float = 1.0
    min_area: float = 0.001
    dedupe_jaccard: float = 0.5
    reference_size: int = 224

    def __post_init__(self) -> None:
        counts = self.n_segments
        if (
            not isinstance(counts, tuple)
            or not counts
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in counts)
        ):
            raise ValueError(f"n_segments must be a non-empty tuple of positive integers (got {counts!r})")
        if not self.compactness > 0:
            raise ValueError(f"compactness must be > 0 (got {self.compactness!r})")
        if not self.sigma >= 0:
            raise ValueError(f"sigma must be >= 0 (got {self.sigma!r})")
        if not 0 <= self.min_area < 1:
            raise ValueError(f"min_area must be in [0, 1) (got {self.min_area!r})")
        if not 0 < self.dedupe_jaccard <= 1:
            raise ValueError(f"dedupe_jaccard must be in (0, 1] (got {self.dedupe_jaccard!r})")
        if isinstance(self.reference_size, bool) or not isinstance(self.reference_size, int) or self.reference_size < 1:
            raise ValueError(f"reference_size must be a positive integer (got {self.reference_size!r})")

    def key(self) -> str:
        """A short stable digest of the parameters, the algorithm version and scikit-image's version.

        scikit-image is part of the key because its SLIC has changed results between releases (the
        ``start_label`` default did); a cached segmentation from another version is recomputed.

        >>> SegmentationConfig().key() == SegmentationConfig().key()
        True
        >>> SegmentationConfig().key() == SegmentationConfig(sigma=0.5).key()
        False
        """
        data = {
            "config": asdict(self),
            "algorithm": _ALGORITHM_VERSION,
            "skimage": skimage.__version__,  # type: ignore[attr-defined]  # skimage's __init__.pyi leaves it out
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def scaled_sigma(self, height: int, width: int) -> float:
        """The smoothing width used for an ``height`` x ``width`` image (never more than ``sigma``)."""
        return self.sigma * min(1.0, min(height, width) / self.reference_size)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be a (H, W, 3) uint8 array (got {got})")


def _contingency(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> np.ndarray:
    """``table[i, j]`` = number of pixels with label i in ``a`` and label j in ``b`` (labels 0..n)."""
    return np.bincount((a * (nb + 1) + b).ravel(), minlength=(na + 1) * (nb + 1)).reshape(na + 1, nb + 1)


def segment(image: np.ndarray, config: SegmentationConfig = SegmentationConfig()) -> np.ndarray:
    """Superpixel masks of ``image`` at every resolution of ``config``, filtered and de-duplicated.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        config: the segmentation parameters.

    Returns:
        ``(S, H, W)`` bool masks, ordered by resolution then SLIC label.

    >>> image = np.zeros((32, 32, 3), np.uint8); image[:, 16:] = 255
    >>> masks = segment(image, SegmentationConfig(n_segments=(4,)))
    >>> masks.shape, bool(masks.any(axis=0).all())
    ((4, 32, 32), True)
    """
    _check_image(image)
    height, width = image.shape[:2]
    pixels = height * width
    sigma = config.scaled_sigma(height, width)
    # Kept labels per earlier resolution: (label image, its label count, kept label ids).
    kept: list[tuple[np.ndarray, int, np.ndarray]] = []
    for n_segments in config.n_segments:
        labels = slic(
            image, n_segments=n_segments, compactness=config.compactness, sigma=sigma, start_label=1, channel_axis=-1
        )  # (H, W) int, labels 1..n
        n = int(labels.max())
        area = np.bincount(labels.ravel(), minlength=n + 1)[1:] / pixels  # (n,)
        # ACE's rule: strictly larger than min_area, which also drops labels SLIC left unused.
        keep = area > config.min_area
        for earlier, n_earlier, earlier_ids in kept:
            table = _contingency(earlier, labels, n_earlier, n)[earlier_ids][:, 1:]  # (K, n)
            # Row sums are the earlier masks' areas: every pixel has a label >= 1 in ``labels``.
            earlier_area = table.sum(axis=1, keepdims=True)  # (K, 1)
            union = earlier_area + area[None, :] * pixels - table
            jaccard = table / union
            keep &= ~(jaccard > config.dedupe_jaccard).any(axis=0)
        ids = np.flatnonzero(keep) + 1
        kept.append((labels, n, ids))
    return np.concatenate([labels[None] == ids[:, None, None] for labels, _, ids in kept])  # (S, H, W)


def _check_masks(masks: np.ndarray, region: np.ndarray | None = None) -> None:
    if not isinstance(masks, np.ndarray) or masks.ndim != 3 or masks.dtype != bool:
        got = f"{masks.dtype} array of shape {masks.shape}" if isinstance(masks, np.ndarray) else type(masks).__name__
        raise ValueError(f"masks must be a (S, H, W) bool array (got {got})")
    if region is not None and (not isinstance(region, np.ndarray) or region.shape != masks.shape[1:]):
        got_region = region.shape if isinstance(region, np.ndarray) else type(region).__name__
        raise ValueError(f"region must be a {masks.shape[1:]} array like the masks (got {got_region})")


def _fraction_in(masks: np.ndarray, region: np.ndarray) -> np.ndarray:
    """For each mask, the fraction of its pixels inside ``region`` (0 for an empty mask)."""
    _check_masks(masks, region)
    inside = (masks & region.astype(bool)[None]).sum(axis=(1, 2))  # (S,)
    fraction: np.ndarray = inside / np.maximum(masks.sum(axis=(1, 2)), 1)
    return fraction


def masks_inside(masks: np.ndarray, region: np.ndarray, min_fraction: float = 0.5) -> np.ndarray:
    """Indices of the masks with at least ``min_fraction`` of their area inside ``region``.

    For concept discovery: patches that lie (mostly) within the Grad-CAM mask. ``min_fraction=1`` means
    entirely inside.
    """
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1] (got {min_fraction!r})")
    return np.flatnonzero(_fraction_in(masks, region) >= min_fraction)


def masks_overlapping(masks: np.ndarray, region: np.ndarray, min_fraction: float = 0.0) -> np.ndarray:
    """Indices of the masks with more than ``min_fraction`` of their area inside ``region``.

    For matching: any patch that touches the Grad-CAM mask is a candidate; ``min_fraction=0`` (the
    default) means at least one pixel in common.
    """
    if not 0 <= min_fraction < 1:
        raise ValueError(f"min_fraction must be in [0, 1) (got {min_fraction!r})")
    return np.flatnonzero(_fraction_in(masks, region) > min_fraction)


def mask_centres(masks: np.ndarray) -> np.ndarray:
    """``(S, 2)`` centroids as normalised ``(x, y)``: pixel ``(row i, column j)`` sits at
    ``((j + 0.5) / W, (i + 0.5) / H)``, so positions are in (0, 1) and agree across image sizes.

    >>> m = np.zeros((1, 4, 4), bool); m[0, 0, :2] = True
    >>> mask_centres(m)
    array([[0.25 , 0.125]])
    """
    _check_masks(masks)
    _, height, width = masks.shape
    area = masks.sum(axis=(1, 2))
    if (area == 0).any():
        raise ValueError(f"empty masks have no centre (masks {np.flatnonzero(area == 0).tolist()})")
    rows = (masks.sum(axis=2) @ (np.arange(height) + 0.5)) / area  # (S,)
    cols = (masks.sum(axis=1) @ (np.arange(width) + 0.5)) / area  # (S,)
    return np.stack([cols / width, rows / height], axis=1)

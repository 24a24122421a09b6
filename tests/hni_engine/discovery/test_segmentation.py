"""Multi-resolution SLIC: determinism, every label kept, area filter, Jaccard de-duplication, small images,
and the region selections used by discovery and matching."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import slic

from hni_engine.discovery.segmentation import SegmentationConfig, mask_centres, masks_inside, masks_overlapping, segment


def blocks(size: int, seed: int = 0) -> np.ndarray:
    """A 4x4 grid of random colours over a soft gradient, with a little noise: structure SLIC can follow."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (4, 4, 3))
    cells = np.repeat(np.repeat(colours, -(-size // 4), axis=0), -(-size // 4), axis=1)[:size, :size]
    ramp = np.linspace(-20, 20, size)[None, :, None]
    noise = rng.normal(0, 4, (size, size, 3))
    return np.clip(cells + ramp + noise, 0, 255).astype(np.uint8)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("size", [64, 224])
def test_masks_are_boolean_deterministic_and_filtered(size):
    image = blocks(size)
    config = SegmentationConfig()
    masks = segment(image, config)
    assert masks.dtype == bool and masks.ndim == 3 and masks.shape[1:] == (size, size)
    assert 15 <= len(masks) <= sum(config.n_segments)
    assert (masks.mean(axis=(1, 2)) > config.min_area).all()
    np.testing.assert_array_equal(masks, segment(image, config))


def test_every_label_is_kept_and_the_union_covers_the_image():
    # The official code skipped one label per resolution; with min_area=0 nothing may be lost.
    image = blocks(64, seed=3)
    config = SegmentationConfig(n_segments=(50,), min_area=0.0)
    masks = segment(image, config)
    labels = slic(
        image, n_segments=50, compactness=20.0, sigma=config.scaled_sigma(64, 64), start_label=1, channel_axis=-1
    )
    assert len(masks) == len(np.unique(labels))
    np.testing.assert_array_equal(masks.sum(axis=0), np.ones((64, 64)))  # disjoint and covering
    for k, mask in enumerate(masks, start=1):  # ordered by label
        np.testing.assert_array_equal(mask, labels == k)


def test_min_area_drops_exactly_the_small_masks():
    image = blocks(64, seed=1)
    everything = segment(image, SegmentationConfig(n_segments=(80,), min_area=0.0))
    areas = everything.mean(axis=(1, 2))
    threshold = float(np.median(areas))
    kept = segment(image, SegmentationConfig(n_segments=(80,), min_area=threshold))
    np.testing.assert_array_equal(kept, everything[areas > threshold])
    assert 0 < len(kept) < len(everything)


def test_near_duplicates_across_resolutions_are_dropped():
    image = blocks(64, seed=2)
    once = segment(image, SegmentationConfig(n_segments=(15,)))
    # The same resolution twice: every mask of the second pass duplicates one of the first (Jaccard 1).
    np.testing.assert_array_equal(segment(image, SegmentationConfig(n_segments=(15, 15))), once)
    # Jaccard can never exceed 1, so a threshold of 1 keeps the duplicates.
    kept_all = segment(image, SegmentationConfig(n_segments=(15, 15), dedupe_jaccard=1.0))
    np.testing.assert_array_equal(kept_all, np.concatenate([once, once]))


def test_default_output_has_no_near_duplicates_and_is_ordered_by_resolution():
    image = blocks(64, seed=4)
    config = SegmentationConfig()
    masks = segment(image, config)
    first = segment(image, SegmentationConfig(n_segments=config.n_segments[:1]))
    np.testing.assert_array_equal(masks[: len(first)], first)
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert jaccard(masks[i], masks[j]) <= config.dedupe_jaccard


def test_sigma_scales_down_for_small_images_only():
    config = SegmentationConfig()
    assert config.scaled_sigma(64, 64) == pytest.approx(64 / 224)
    assert config.scaled_sigma(64, 300) == pytest.approx(64 / 224)
    assert config.scaled_sigma(299, 299) == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_segments": ()}, r"n_segments .* \(got \(\)\)"),
        ({"n_segments": (15, 0)}, r"\(got \(15, 0\)\)"),
        ({"n_segments": [15, 50]}, r"\(got \[15, 50\]\)"),
        ({"compactness": 0.0}, r"compactness must be > 0 \(got 0.0\)"),
        ({"sigma": -1.0}, r"sigma must be >= 0 \(got -1.0\)"),
        ({"min_area": 1.0}, r"min_area must be in \[0, 1\) \(got 1.0\)"),
        ({"dedupe_jaccard": 0.0}, r"\(got 0.0\)"),
        ({"reference_size": 0}, r"reference_size .* \(got 0\)"),
    ],
)
def test_bad_config_values_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SegmentationConfig(**kwargs)


def test_config_key_is_stable_and_parameter_sensitive():
    assert SegmentationConfig().key() == SegmentationConfig().key()
    assert (
        len(
            {
                SegmentationConfig().key(),
                SegmentationConfig(n_segments=(15, 50)).key(),
                SegmentationConfig(min_area=0.01).key(),
            }
        )
        == 3
    )


def test_bad_images_are_rejected():
    with pytest.raises(ValueError, match=r"\(got float64 array of shape \(8, 8, 3\)\)"):
        segment(np.zeros((8, 8, 3)), SegmentationConfig())
    with pytest.raises(ValueError, match="uint8"):
        segment(np.zeros((8, 8), np.uint8), SegmentationConfig())


@pytest.fixture
def hand_masks() -> tuple[np.ndarray, np.ndarray]:
    """Four masks on a 4x4 image and a region = the left half (columns 0-1)."""
    masks = np.zeros((4, 4, 4), bool)
    masks[0, :, 0] = True  # entirely inside
    masks[1, :, 1:3] = True
    masks[1, 3, 2] = False  # 4 of 7 pixels inside
    masks[2, 0, 1:5] = True  # 1 of 3 inside
    masks[3, :, 3] = True  # entirely outside
    region = np.zeros((4, 4), bool)
    region[:, :2] = True
    return masks, region


def test_masks_inside_and_overlapping(hand_masks):
    masks, region = hand_masks
    assert masks_inside(masks, region, 0.5).tolist() == [0, 1]
    assert masks_inside(masks, region, 1.0).tolist() == [0]
    assert masks_overlapping(masks, region, 0.0).tolist() == [0, 1, 2]
    assert masks_overlapping(masks, region, 1 / 3).tolist() == [0, 1]  # strictly more than a third
    with pytest.raises(ValueError, match=r"\(got 0\)"):
        masks_inside(masks, region, 0)
    with pytest.raises(ValueError, match=r"region must be a \(4, 4\)"):
        masks_overlapping(masks, region[:2])


def test_mask_centres_are_normalised_xy(hand_masks):
    masks, _ = hand_masks
    centres = mask_centres(masks)
    assert centres.shape == (4, 2)
    np.testing.assert_allclose(centres[0], [0.125, 0.5])
    np.testing.assert_allclose(centres[3], [0.875, 0.5])
    np.testing.assert_allclose(centres[2], [0.625, 0.125])
    with pytest.raises(ValueError, match=r"empty masks .* \[0\]"):
        mask_centres(np.zeros((1, 2, 2), bool))

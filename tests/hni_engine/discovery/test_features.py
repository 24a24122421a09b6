"""Patch features, both modes, against the feature map computed by hand on an untrained ResNet-18."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from hni_engine.discovery.features import GRAY_FILL, CropFeatures, PoolFeatures, fill_and_crop, make_patch_features

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


def layer4_map(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet-18 up to layer4 by hand: ``(N, 3, H, W)`` in [0, 1] -> ``(N, 512, h, w)``."""
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def unit(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255  # (1, 3, H, W)


def halves(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """An image red on the left, blue on the right, and masks: left half, right half, whole image."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:, : size // 2] = (220, 30, 30)
    image[:, size // 2 :] = (20, 40, 200)
    masks = np.zeros((3, size, size), bool)
    masks[0, :, : size // 2] = True
    masks[1, :, size // 2 :] = True
    masks[2] = True
    return image, masks


def random_masks(size: int, count: int, seed: int) -> np.ndarray:
    """Random rectangles (never empty)."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, size, size), bool)
    for m in masks:
        top, left = rng.integers(0, size - 4, 2)
        height, width = rng.integers(2, size // 2, 2)
        m[top : top + height, left : left + width] = True
    return masks


def features(model: torch.nn.Module, mode: str, **kwargs):
    return make_patch_features(mode, model=model, layer="layer4", input_size=64, mean=MEAN, std=STD, **kwargs)


@pytest.mark.parametrize("mode", ["crop", "pool"])
def test_both_modes_give_one_layer_vector_per_mask(model, mode):
    image, masks = halves()
    out = features(model, mode)(image, masks)
    assert out.shape == (3, 512) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.isfinite(out).all()


def test_pool_averages_the_map_inside_each_mask(model):
    image, masks = halves()
    out = features(model, "pool")(image, masks)
    fmap = layer4_map(model, unit(image))[0]  # (512, 2, 2): column 0 is the left half, column 1 the right
    torch.testing.assert_close(out[0], fmap[:, :, 0].mean(dim=1))
    torch.testing.assert_close(out[1], fmap[:, :, 1].mean(dim=1))
    torch.testing.assert_close(out[2], fmap.mean(dim=(1, 2)))  # the whole image: the global average
    assert not torch.allclose(out[0], out[1])


def test_pool_weights_cells_by_covered_area(model):
    # A 16x16 corner patch covers a quarter of one 32x32 cell: it gets that cell's vector alone.
    image, _ = halves()
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 40:56, 8:24] = True
    out = features(model, "pool")(image, masks)
    fmap = layer4_map(model, unit(image))[0]
    torch.testing.assert_close(out[0], fmap[:, 1, 0])


def test_pool_can_run_images_larger_for_a_finer_map(model):
    pool = features(model, "pool", min_feature_size=4)
    assert pool.run_size == 128 and pool.map_shape(128) == (512, 4, 4)
    image, masks = halves()
    out = pool(image, masks)
    big = F.interpolate(unit(image), size=(128, 128), mode="bilinear", align_corners=False, antialias=True)
    fmap = layer4_map(model, big)[0]  # (512, 4, 4)
    torch.testing.assert_close(out[0], fmap[:, :, :2].mean(dim=(1, 2)))
    torch.testing.assert_close(out[2], fmap.mean(dim=(1, 2)))


def test_fill_and_crop_fills_gray_outside_and_crops_inclusively():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    mask = np.zeros((4, 5), bool)
    mask[1, 1] = mask[2, 3] = True
    patch = fill_and_crop(image, mask)
    assert patch.shape == (2, 3, 3) and patch.dtype == np.uint8
    np.testing.assert_array_equal(patch[0, 0], image[1, 1])
    np.testing.assert_array_equal(patch[1, 2], image[2, 3])
    gray = ~np.array([[True, False, False], [False, False, True]])
    assert (patch[gray] == GRAY_FILL).all() and GRAY_FILL == 117
    with pytest.raises(ValueError, match="empty"):
        fill_and_crop(image, np.zeros((4, 5), bool))


def test_crop_forwards_the_resized_patch(model):
    image, masks = halves()
    out = features(model, "crop")(image, masks[:1])
    patch = unit(fill_and_crop(image, masks[0]))  # (1, 3, 64, 32)
    resized = F.interpolate(patch, size=(64, 64), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    torch.testing.assert_close(out[0], layer4_map(model, resized)[0].mean(dim=(1, 2)))


@pytest.mark.parametrize("mode", ["crop", "pool"])
def test_batching_does_not_change_results(model, mode):
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    masks = [random_masks(64, count, seed) for seed, count in enumerate((2, 1))]
    batched = features(model, mode, batch_size=2).many(images, masks)  # crop: a batch spans two images
    single = features(model, mode, batch_size=1).many(images, masks)
    one_by_one = [features(model, mode)(image, m) for image, m in zip(images, masks)]
    assert [b.shape[0] for b in batched] == [2, 1]
    for a, b, c in zip(batched, single, one_by_one):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-4)


def test_model_state_and_hooks_are_restored(model):
    model.train()
    model.layer4.eval()
    try:
        image, masks = halves()
        for mode in ("crop", "pool"):
            features(model, mode)(image, masks[:1])
            assert model.training and model.layer1.training and not model.layer4.training
            assert not model.layer4._forward_hooks
    finally:
        model.eval()


def test_other_image_sizes_and_zero_masks(model):
    image = np.random.default_rng(0).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    masks = random_masks(80, 2, seed=1)
    masks = np.concatenate([masks, np.zeros((2, 16, 80), bool)], axis=1)  # (2, 96, 80)
    for mode in ("crop", "pool"):
        assert features(model, mode)(image, masks).shape == (2, 512)
        assert features(model, mode)(image, masks[:0]).shape == (0, 512)


def test_bad_inputs_are_named(model):
    image, masks = halves()
    pool = features(model, "pool")
    with pytest.raises(ValueError, match=r"empty masks \(indices \[1\]\)"):
        pool(image, np.stack([masks[0], np.zeros_like(masks[0])]))
    with pytest.raises(ValueError, match=r"\(S, 64, 64\) bool array \(got bool array of shape \(3, 32, 32\)\)"):
        pool(image, masks[:, :32, :32])
    with pytest.raises(ValueError, match=r"\(got float64"):
        pool(image.astype(float), masks)
    with pytest.raises(ValueError, match=r"unknown patch feature mode \(got 'mean'\)"):
        features(model, "mean")
    with pytest.raises(ValueError, match=r"did you mean 'layer4'"):
        PoolFeatures(model, "layer5", 64, MEAN, STD)
    with pytest.raises(ValueError, match=r"batch_size .* \(got 0\)"):
        CropFeatures(model, "layer4", 64, MEAN, STD, batch_size=0)
    with pytest.raises(ValueError, match=r"must output a \(N, C, h, w\) feature map \(got \(1, 10\)\)"):
        PoolFeatures(model, "fc", 64, MEAN, STD)(image, masks)
    assert isinstance(features(model, "pool"), PoolFeatures) and isinstance(features(model, "crop"), CropFeatures)

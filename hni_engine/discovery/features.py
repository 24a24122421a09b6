"""Patch features: one vector per segment, read from a layer of the original network (HNI B.2; ACE).

Two modes compute the feature of every mask of an image; both give ``(S, D)`` float32 with ``D`` the
layer's channel count (512 for ResNet-18 ``layer4``), and both are selectable by name
(:func:`make_patch_features`):

``crop`` (:class:`CropFeatures`, paper-faithful, as ACE): outside the segment the image is filled with
gray 117/255 (ACE's ``average_image_value``), the segment's bounding box is cropped, resized (bicubic) to
the network's input size, normalised and forwarded; the feature is the spatial mean of the layer's map.
One forward pass per patch, so patches are batched (``batch_size`` per pass). Two small fixes to ACE's
code: the bounding box is inclusive (ACE's ``patch[h1:h2, w1:w2]`` dropped the last row and column) and
the resize is antialiased, like the PIL resize ACE used.

``pool`` (:class:`PoolFeatures`, fast): one forward pass per image (images batched), then each mask's
feature is the average of the layer's map inside the mask. The mask is brought to the map's resolution
``(h, w)`` by adaptive average pooling of the float mask, giving each feature cell a weight equal to the
fraction of it the segment covers: a segment smaller than a cell still weighs on the cells it touches
(adaptive pooling's bins cover every pixel, so a non-empty mask always has positive total weight), and a
mask covering the whole image gives exactly the global average of the map.

Where the map is tiny (a 64 px image through ResNet-18 ``layer4`` is 2x2) every pooled feature is a
blend of four vectors. ``PoolFeatures(min_feature_size=k)`` runs the image at the smallest size whose map
is at least ``k`` cells a side (``k=7`` runs a 64 px image at 224 px), at the cost of a forward pass at
that size. The default is ``None``, the network's own input size: the pool mode exists to make I-SCGs cost
about one plain forward pass per image (BENCHMARKS.md P2), and a larger size is both slower (a 224 px
pass costs ~7-10x a 64 px one) and shows the network objects at a scale it was not trained on. Choosing a
finer feature layer (e.g. ``layer3``) is the other remedy. BENCHMARKS.md P1 compares the two modes.

Both modes run the model in eval mode under ``torch.inference_mode``, restore each module's train/eval
flag afterwards, and read the layer with a forward hook that exists only during a forward pass; the
forward pass stops at the layer (the rest of the network is not run). Results are deterministic and
returned on the CPU. The model must already be on ``device``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hni_engine.discovery.gradcam import eval_mode, resolve_layer

__all__ = ["GRAY_FILL", "CropFeatures", "PatchFeatures", "PoolFeatures", "fill_and_crop", "make_patch_features"]

GRAY_FILL = 117  # ACE's average_image_value: the fill outside a segment, on the 0-255 scale


def fill_and_crop(image: np.ndarray, mask: np.ndarray, fill: int = GRAY_FILL) -> np.ndarray:
    """ACE's patch: ``image`` with ``fill`` outside ``mask``, cropped to the mask's (inclusive) bounding box.

    >>> image = np.full((3, 4, 3), 200, np.uint8)
    >>> mask = np.zeros((3, 4), bool); mask[0, 1] = mask[1, 2] = True
    >>> fill_and_crop(image, mask)[..., 0]
    array([[200, 117],
           [117, 200]], dtype=uint8)
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("cannot crop an empty mask")
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.where(mask[box][..., None], image[box], np.uint8(fill))  # (h', w', 3)


class _StopForward(Exception):
    """Raised by the capture hook: the layer's output is all we need, so the rest of the network is skipped."""


def _tensor(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory when possible; read-only arrays (e.g. ``np.asarray`` of a PIL image)
    are copied, since torch cannot wrap them safely."""
    return torch.from_numpy(np.require(array, requirements=("C", "W")))


def _to_unit(image: np.ndarray) -> Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return _tensor(image).permute(2, 0, 1).float().div_(255.0)


def _resize(x: Tensor, size: int, mode: Literal["bilinear", "bicubic"]) -> Tensor:
    """``(3, H, W)`` -> ``(3, size, size)``, antialiased (like PIL) so shrinking does not alias."""
    if x.shape[-2:] == (size, size):
        return x
    out = F.interpolate(x[None], size=(size, size), mode=mode, align_corners=False, antialias=True)[0]
    return out.clamp_(0.0, 1.0) if mode == "bicubic" else out  # bicubic overshoots at sharp edges


class PatchFeatures(ABC):
    """Base class: validation, normalisation, the hooked forward pass. Variants override :meth:`_extract`.

    Args:
        model: the original classifier.
        layer: dotted name of the feature layer (e.g. ``"layer4"``); it must output ``(N, C, h, w)``.
        input_size: the network's square input size, in pixels.
        mean, std: per-channel normalisation on the [0, 1] scale (as the network was trained).
        batch_size: inputs per forward pass (patches in ``crop`` mode, images in ``pool`` mode).
        device: where the forward passes run; the model must already be there.
    """

    mode: ClassVar[str]

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int = 64,
        device: str | torch.device = "cpu",
    ):
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"input_size must be a positive integer (got {input_size!r})")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer (got {batch_size!r})")
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(f"mean and std need 3 values each, std > 0 (got mean={list(mean)}, std={list(std)})")
        self.model = model
        self.layer_name = layer
        self.layer = resolve_layer(model, layer)
        self.input_size = input_size
        self.batch_size = batch_size
        self.device = torch.device(device)
        parameter = next(model.parameters(), None)
        if parameter is not None and parameter.device.type != self.device.type:
            raise ValueError(f"the model is on {parameter.device}, not on the requested device (got {device!r})")
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._map_shapes: dict[int, tuple[int, int, int]] = {}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({type(self.model).__name__}, layer={self.layer_name!r}, "
            f"input_size={self.input_size}, batch_size={self.batch_size})"
        )

    def __call__(self, image: np.ndarray, masks: np.ndarray) -> Tensor:
        """Features of the ``(S, H, W)`` bool ``masks`` of one ``(H, W, 3)`` uint8 image: ``(S, D)`` float32."""
        return self.many([image], [masks])[0]

    def many(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[Tensor]:
        """Features of several images at once (batched across images where the mode allows)."""
        if len(images) != len(masks):
            raise ValueError(f"need one mask array per image (got {len(masks)} for {len(images)} images)")
        for index, (image, image_masks) in enumerate(zip(images, masks)):
            _check_pair(index, image, image_masks)
        with eval_mode(self.model), torch.inference_mode():
            return [f.cpu() for f in self._extract(images, masks)]

    @abstractmethod
    def _extract(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[Tensor]:
        """The mode's computation on validated inputs; one ``(S_i, D)`` tensor per image."""

    def _feature_maps(self, batch: Tensor) -> Tensor:
        """``(N, 3, h, w)`` in [0, 1] -> the layer's ``(N, C, h', w')`` map, in one forward pass."""
        captured: list[object] = []

        def hook(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
            captured.append(output)
            raise _StopForward

        handle = self.layer.register_forward_hook(hook)
        try:
            self.model((batch.to(self.device) - self._mean) / self._std)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            raise ValueError(f"layer {self.layer_name!r} did not run in the model's forward pass")
        output = captured[0]
        if not isinstance(output, Tensor) or output.dim() != 4:
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"layer {self.layer_name!r} must output a (N, C, h, w) feature map (got {got})")
        return output.float()

    def map_shape(self, size: int) -> tuple[int, int, int]:
        """``(C, h, w)`` of the layer's map for a ``size`` x ``size`` input (one probe pass, then cached)."""
        if size not in self._map_shapes:
            with eval_mode(self.model), torch.inference_mode():
                probe = self._feature_maps(torch.zeros(1, 3, size, size))
            self._map_shapes[size] = cast(tuple[int, int, int], tuple(probe.shape[1:]))  # probe is (1, C, h, w)
        return self._map_shapes[size]


def _check_pair(index: int, image: np.ndarray, masks: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image {index} must be a (H, W, 3) uint8 array (got {got})")
    if (
        not isinstance(masks, np.ndarray)
        or masks.dtype != bool
        or masks.ndim != 3
        or masks.shape[1:] != image.shape[:2]
    ):
        got = f"{masks.dtype} array of shape {masks.shape}" if isinstance(masks, np.ndarray) else type(masks).__name__
        raise ValueError(
            f"masks of image {index} must be a (S, {image.shape[0]}, {image.shape[1]}) bool array (got {got})"
        )
    empty = np.flatnonzero(~masks.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(f"masks of image {index} include empty masks (indices {empty.tolist()})")


class CropFeatures(PatchFeatures):
    """``crop`` mode: each segment gray-filled, cropped, resized to the input size and forwarded (ACE)."""

    mode = "crop"

    def _extract(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[Tensor]:
        jobs = [(i, s) for i, image_masks in enumerate(masks) for s in range(len(image_masks))]
        rows: list[Tensor] = []
        for start in range(0, len(jobs), self.batch_size):
            patches = torch.stack(
                [
                    _resize(_to_unit(fill_and_crop(images[i], masks[i][s])), self.input_size, "bicubic")
                    for i, s in jobs[start : start + self.batch_size]
                ]
            )  # (N, 3, input_size, input_size)
            rows.append(self._feature_maps(patches).mean(dim=(2, 3)))  # (N, C)
        if not rows:
            rows.append(torch.empty(0, self.map_shape(self.input_size)[0], device=self.device))
        return list(torch.split(torch.cat(rows), [len(m) for m in masks]))


class PoolFeatures(PatchFeatures):
    """``pool`` mode: one forward pass per image, the map averaged inside each (area-weighted) mask.

    Args:
        min_feature_size: if set, run images at the smallest size (>= ``input_size``) whose feature map is
            at least this many cells a side; ``None`` (default) runs them at ``input_size``.
        Other arguments: as :class:`PatchFeatures`.
    """

    mode = "pool"

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        input_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        min_feature_size: int | None = None,
    ):
        super().__init__(model, layer, input_size, mean, std, batch_size, device)
        if min_feature_size is not None and (
            isinstance(min_feature_size, bool) or not isinstance(min_feature_size, int) or min_feature_size < 1
        ):
            raise ValueError(f"min_feature_size must be a positive integer or None (got {min_feature_size!r})")
        self.min_feature_size = min_feature_size
        self._run_size: int | None = None

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", min_feature_size={self.min_feature_size})"

    @property
    def run_size(self) -> int:
        """The side, in pixels, images are forwarded at."""
        if self._run_size is None:
            size = self.input_size
            if self.min_feature_size is not None:
                # Feature maps grow about linearly with the input; a couple of probes settle the rounding.
                while min(self.map_shape(size)[1:]) < self.min_feature_size:
                    cells = max(1, min(self.map_shape(size)[1:]))
                    size = max(size + 1, math.ceil(size * self.min_feature_size / cells))
            self._run_size = size
        return self._run_size

    def _extract(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[Tensor]:
        size = self.run_size
        out: list[Tensor] = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack(
                [_resize(_to_unit(image), size, "bilinear") for image in images[start : start + self.batch_size]]
            )  # (N, 3, size, size)
            maps = self._feature_maps(batch)  # (N, C, h, w)
            for fmap, image_masks in zip(maps, masks[start : start + self.batch_size]):
                out.append(self.pool_map(fmap, image_masks))
        return out

    def pool_map(self, fmap: Tensor, masks: np.ndarray) -> Tensor:
        """Average one image's feature map ``(C, h, w)`` inside each of its masks ``(S, H, W)`` -> ``(S, C)``.

        Public so a caller that already ran the forward pass at ``run_size`` (extraction's Grad-CAM pass
        reads the same layer) can pool without a second pass.
        """
        return pool_map(fmap, masks)


def pool_map(fmap: Tensor, masks: np.ndarray) -> Tensor:
    """Average a feature map ``(C, h, w)`` inside each mask ``(S, H, W)``, area-weighted -> ``(S, C)``."""
    soft = _tensor(masks).to(fmap.device, torch.float32)[:, None]  # (S, 1, H, W)
    weights = F.adaptive_avg_pool2d(soft, cast(tuple[int, int], fmap.shape[-2:])).flatten(1)  # (S, h*w)
    pooled = weights @ fmap.float().flatten(1).T  # (S, C)
    return pooled / weights.sum(dim=1, keepdim=True)


_MODES: dict[str, type[PatchFeatures]] = {cls.mode: cls for cls in (CropFeatures, PoolFeatures)}


def make_patch_features(mode: Literal["crop", "pool"], **kwargs: Any) -> PatchFeatures:
    """The patch feature extractor for ``mode``; ``kwargs`` go to its constructor."""
    if mode not in _MODES:
        raise ValueError(f"unknown patch feature mode (got {mode!r}); expected one of {sorted(_MODES)}")
    return _MODES[mode](**kwargs)

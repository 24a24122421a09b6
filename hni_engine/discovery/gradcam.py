"""Grad-CAM (VRX 3.1; Selvaraju et al. 2017): where the network looks when it scores a class.

Configure once, call many times::

    with GradCam(model, "layer4") as cam:
        maps = cam(images, targets)       # (B, H, W) float in [0, 1]
    regions = binarize(maps, keep=0.5)    # (B, H, W) bool, the top half of each map

For each image, the class *logit* (not its softmax probability, whose gradient also carries every other
class's score) is differentiated with respect to the activation A of the chosen layer, ``A: (C, h, w)``.
Channel weights are the spatial means of those gradients, the map is ``ReLU(sum_k w_k A_k)``, upsampled
bilinearly to the input size and min-max normalised per image. The maps are computed on the same
preprocessed tensor the network classifies (the official VRX code fed unpreprocessed images to Grad-CAM).

Gradients are taken with :func:`torch.autograd.grad` on the captured activation, so nothing accumulates in
the parameters' ``.grad`` and ``requires_grad`` flags are left alone; only a forward hook is needed, and it
lives exactly as long as the ``with`` block. The model runs in eval mode during a call and every module's
own train/eval flag is restored afterwards.

This module also holds two helpers the other extraction stages share: :func:`resolve_layer` (a dotted
module name to the module, with a did-you-mean error) and :func:`eval_mode`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from hni_dsl.suggest import did_you_mean

__all__ = ["ClassPass", "GradCam", "binarize", "eval_mode", "resolve_layer"]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted, as in ``model.named_modules()``, e.g. ``"layer4.1.conv2"``).

    An unknown name raises :class:`ValueError` naming the closest valid names.

    >>> import torchvision
    >>> net = torchvision.models.resnet18(weights=None)
    >>> type(resolve_layer(net, "layer4.1.conv2")).__name__
    'Conv2d'
    >>> resolve_layer(net, "layr4")
    Traceback (most recent call last):
    ...
    ValueError: unknown layer 'layr4' in ResNet; did you mean 'layer4', 'layer4.1', 'layer4.0'?
    """
    modules: dict[str, nn.Module] = dict(model.named_modules())
    modules.pop("", None)  # the model itself is not a layer: its output is the logits, not a feature map
    if name in modules:
        return modules[name]
    hint = did_you_mean(name, modules, n=3, cutoff=0.5, quote=repr)
    if not hint:
        top = [n for n in modules if "." not in n]
        hint = "; top-level layers are " + ", ".join(repr(n) for n in top[:12]) + ("" if len(top) <= 12 else ", ...")
    raise ValueError(f"unknown layer {name!r} in {type(model).__name__}{hint}")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore each module's own flag.

    Restoring per module (not ``model.train(previous)``) keeps mixed states intact, e.g. a model being
    fine-tuned with frozen BatchNorm layers.
    """
    previous = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in previous:
            module.training = training


def _feature_map(output: object, layer_name: str) -> Tensor:
    """The layer output as an ``(N, C, h, w)`` tensor, or a clear error for layers that do not give one."""
    if not isinstance(output, Tensor) or output.dim() != 4:
        got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise ValueError(f"layer {layer_name!r} must output a (N, C, h, w) feature map (got {got})")
    return output


@dataclass
class ClassPass:
    """One forward pass and one backward pass per class, for a batch (see :meth:`GradCam.per_class`).

    Shapes:
        logits: ``(B, K)``; maps: ``(B, n, H, W)`` Grad-CAM maps of the n classes asked for, upsampled to
        the input and *not* normalised (ReLU'd sums, comparable across classes); also: ``(B, C', h', w')``
        the extra layer's output and also_gradients: ``(B, n, C')`` each class logit's gradient there,
        summed over space (both None without an extra layer). All detached.
    """

    logits: Tensor
    maps: Tensor
    also: Tensor | None = None
    also_gradients: Tensor | None = None


class GradCam:
    """Grad-CAM at one layer of one model. Use as a context manager; call it on batches inside the block.

    Args:
        model: a classifier returning logits ``(B, K)``.
        layer: dotted name of the module to differentiate at (e.g. ``"layer4"`` for a ResNet).
        also: dotted name of a second layer whose output and class-logit gradients :meth:`per_class`
            also returns (extraction reads patch features and TCAV gradients there in the same pass).

    Calling the object outside a ``with`` block also works: the hooks are then registered for that one
    call only.
    """

    def __init__(self, model: nn.Module, layer: str, *, also: str | None = None):
        self.model = model
        self.layer_name = layer
        self.layer = resolve_layer(model, layer)
        self.also_name = also
        self.also_layer = resolve_layer(model, also) if also is not None else None
        self._handles: list[RemovableHandle] = []
        self._activations: list[Tensor] = []
        self._also: list[Tensor] = []

    def __repr__(self) -> str:
        state = "active" if self._handles else "inactive"
        also = f", also={self.also_name!r}" if self.also_name else ""
        return f"GradCam({type(self.model).__name__}, layer={self.layer_name!r}{also}, {state})"

    def __enter__(self) -> GradCam:
        if self._handles:
            raise RuntimeError(f"{self!r} is already active (nested `with` on the same GradCam)")
        self._handles.append(self.layer.register_forward_hook(self._record))
        if self.also_layer is not None:
            self._handles.append(self.also_layer.register_forward_hook(self._record_also))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Returning None (falsy) lets any exception raised in the block propagate unchanged.
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._activations.clear()
        self._also.clear()

    def _record(self, module: nn.Module, args: tuple[Any, ...], output: object) -> None:
        self._activations.append(_feature_map(output, self.layer_name))

    def _record_also(self, module: nn.Module, args: tuple[Any, ...], output: object) -> None:
        self._also.append(_feature_map(output, str(self.also_name)))

    def _forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``(B, K)`` and the layer's activation, both in the graph (call with grad enabled)."""
        if images.dim() != 4:
            raise ValueError(f"images must be (B, 3, H, W) (got shape {tuple(images.shape)})")
        # A leaf input that requires grad guarantees a graph through the layer even when every parameter is
        # frozen; we never touch the parameters' own requires_grad flags. (clone: an inference-mode tensor
        # cannot join a graph.)
        inputs = images.detach().clone().requires_grad_(True)
        logits = self.model(inputs)  # (B, K)
        if len(self._activations) != 1:
            raise ValueError(
                f"layer {self.layer_name!r} ran {len(self._activations)} times in one "
                "forward pass; Grad-CAM needs a layer that runs exactly once"
            )
        return logits, self._activations[0]

    def __call__(self, images: Tensor, targets: Tensor, *, upsample: bool = True) -> Tensor:
        """Grad-CAM maps of ``images`` for the classes ``targets``.

        Args:
            images: ``(B, 3, H, W)`` preprocessed (normalised) input, as the network classifies it.
            targets: ``(B,)`` integer class indices, one per image.
            upsample: resize the maps to ``(H, W)`` (default); ``False`` returns them at the layer's
                resolution ``(h, w)``.

        Returns:
            ``(B, H, W)`` (or ``(B, h, w)``) float maps in ``[0, 1]``, detached. A map with no positive
            evidence is all zeros.
        """
        if not self._handles:
            with self:
                return self(images, targets, upsample=upsample)
        targets = torch.as_tensor(targets, device=images.device).long().reshape(-1)
        if targets.shape[0] != images.shape[0]:
            raise ValueError(f"need one target per image (got {targets.shape[0]} targets for {images.shape[0]} images)")
        self._activations.clear()
        # Gradients are needed even when the caller is under no_grad or inference_mode.
        try:
            with eval_mode(self.model), torch.inference_mode(False), torch.enable_grad():
                targets = targets.clone()
                logits, activation = self._forward(images)
                if not (0 <= int(targets.min()) and int(targets.max()) < logits.shape[1]):
                    raise ValueError(
                        f"targets must be class indices in [0, {logits.shape[1]}) (got {targets.tolist()})"
                    )
                # Each image's logit depends only on its own activation (eval mode), so the gradient of the
                # sum gives every image's own gradient in one backward pass.
                score = logits.gather(1, targets[:, None]).sum()
                (gradient,) = torch.autograd.grad(score, activation)  # (B, C, h, w)
        finally:
            self._activations.clear()
            self._also.clear()
        cam = _cam(gradient, activation)  # (B, h, w)
        if upsample and cam.shape[-2:] != images.shape[-2:]:
            cam = _upsample(cam, images.shape[-2:])
        return _min_max(cam)

    def per_class(self, images: Tensor, classes: Sequence[int]) -> ClassPass:
        """Every image's Grad-CAM map for each of ``classes``, from one forward pass (a backward per class).

        The maps are upsampled to the input size and left unnormalised (:func:`binarize` ranks pixels, which
        a min-max rescaling would not change). With ``also``, that layer's output and each class logit's
        gradient there (summed over space: the TCAV directional derivatives' ingredient) come too.
        """
        if not self._handles:
            with self:
                return self.per_class(images, classes)
        self._activations.clear()
        self._also.clear()
        try:
            with eval_mode(self.model), torch.inference_mode(False), torch.enable_grad():
                logits, activation = self._forward(images)
                also = self._also[0] if self.also_layer is not None else None
                wrt = [activation] if also is None else [activation, also]
                maps, also_gradients = [], []
                for c in classes:
                    grads = torch.autograd.grad(logits[:, c].sum(), wrt, retain_graph=True)
                    maps.append(_upsample(_cam(grads[0], activation), images.shape[-2:]))  # (B, H, W)
                    if also is not None:
                        also_gradients.append(grads[1].sum(dim=(2, 3)))  # (B, C')
        finally:
            self._activations.clear()
            self._also.clear()
        return ClassPass(
            logits.detach(),
            torch.stack(maps, 1),
            None if also is None else also.detach(),
            None if also is None else torch.stack(also_gradients, 1).detach(),
        )


def _cam(gradient: Tensor, activation: Tensor) -> Tensor:
    """ReLU(sum_k w_k A_k) with w_k the spatial mean of the gradient: ``(B, C, h, w)`` -> ``(B, h, w)``."""
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    return F.relu((weights * activation.detach()).sum(dim=1))


def _upsample(cam: Tensor, size: Sequence[int]) -> Tensor:
    return F.interpolate(cam[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def _min_max(cam: Tensor) -> Tensor:
    """Min-max normalise each map to [0, 1]; a constant map (e.g. all zero) becomes zeros, never NaN."""
    flat = cam.flatten(1)  # (B, H*W)
    low = flat.min(dim=1).values[:, None, None]
    span = flat.max(dim=1).values[:, None, None] - low
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (cam - low) / safe, torch.zeros_like(cam))


def binarize(cam: Tensor, keep: float = 0.5) -> Tensor:
    """Keep the top ``keep`` fraction of pixels of each map: ``round(keep * H * W)`` pixels, at least one.

    Ties are broken by position (row-major: the earlier pixel wins), so the count is exact and the result
    deterministic even for flat maps.

    >>> binarize(torch.tensor([[[0.1, 0.9], [0.5, 0.3]]]), keep=0.5)
    tensor([[[False,  True],
             [ True, False]]])
    """
    if cam.dim() != 3:
        raise ValueError(f"cam must be (B, H, W) (got shape {tuple(cam.shape)})")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1] (got {keep!r})")
    flat = cam.flatten(1)  # (B, H*W)
    count = max(1, round(keep * flat.shape[1]))
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices[:, :count]  # (B, count)
    kept = torch.zeros_like(flat, dtype=torch.bool)
    kept.scatter_(1, order, True)
    return kept.view_as(cam)

"""Which layer to read features and Grad-CAM at: a stage whose spatial map still fits the input size.

A layer's map shrinks with the input: ResNet-18's ``layer4`` is 7x7 at 224 px but 2x2 at 56 px, where a
Grad-CAM map has four cells and a pooled patch feature is the feature of a whole quadrant. This module
measures the map of each *stage* of a network with one forward pass of a zero image and picks the deepest
stage whose map is still large enough::

    net = build_model("resnet18", 10)
    choice = pick_layers(net, 56)
    choice.feature_layer, choice.feature_map                          # ('layer2', (7, 7))
    layer_warning(net, 56, "layer4", setting="model.feature_layer")   # '... gives a 2x2 map at 56 px ...'

**Stages** (the candidate layers) are the direct children of the model's feature trunk that output an
``(N, C, H, W)`` tensor exactly once per forward pass. The trunk is the first of :data:`TRUNKS` the model
has as a direct child (``features`` for MobileNet, EfficientNet, ConvNeXt, VGG, DenseNet; ``trunk_output``
for RegNet; ``layers`` for MNASNet), else the model itself (ResNet, ShuffleNet, GoogLeNet). When some of
the trunk's children are containers (modules with children of their own), only those count: a ResNet's
stem ``conv1``/``bn1``/``relu``/``maxpool`` and its ``avgpool`` are single layers, its stages are
``layer1``..``layer4``. When none is (VGG's and AlexNet's ``features``), every child counts. A
child with no ``forward`` of its own (a plain ``ModuleList``) is never called, so its items stand in for it
(MaxViT's ``blocks.0``..``blocks.3``). "Deepest" is the order in which the stages run.

**The rule** (:func:`pick_layers`): the deepest stage whose map is at least ``min_side`` cells on its short
side (7 by default, ResNet's ``layer4`` at 224 px); if no stage is, the stage with the largest map (the
deepest of equals), and the reason says so. Features and Grad-CAM get the same layer: moving Grad-CAM
alone to ``layer3`` while features stayed at ``layer4`` (64 px) was measured to change nothing
(BENCHMARKS.md, spurious scenario). The map size matters most to ``pool`` patch features; ``crop`` forwards
each segment alone at the input size (the 64 px scenarios use ``crop`` at ``layer4``, BENCHMARKS.md).

**Transformers are refused** with a :class:`ModelError` that says why: ViT's encoder layers output a token
sequence ``(N, 1 + h*w, D)`` and Swin's stages channels-last ``(N, H, W, C)`` maps, while Grad-CAM and
patch features here read ``(N, C, H, W)``. Supporting them would need a token-to-grid reshape in both
(pytorch-grad-cam's ``reshape_transform``); use a CNN architecture (ResNet, ConvNeXt, EfficientNet,
MobileNet, RegNet) instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from hni_dsl.suggest import did_you_mean
from hni_engine.network.models import ModelError

__all__ = ["TRUNKS", "WARN_SIDE", "LayerChoice", "LayerMap", "layer_warning", "measure_maps", "pick_layers", "stages"]

TRUNKS = ("features", "trunk_output", "layers")
"""Names torchvision gives a classifier's feature trunk, in the order they are looked for."""

WARN_SIDE = 4
"""An explicit layer whose map is smaller than this on its short side draws :func:`layer_warning`."""


@dataclass(frozen=True)
class LayerMap:
    """One layer's output map ``(1, channels, height, width)`` at one input size."""

    name: str
    channels: int
    height: int
    width: int

    @property
    def side(self) -> int:
        """The map's short side, in cells."""
        return min(self.height, self.width)

    @property
    def size(self) -> str:
        return f"{self.height}x{self.width}"

    def __str__(self) -> str:
        return f"{self.name} ({self.size})"


@dataclass(frozen=True)
class LayerChoice:
    """The layers :func:`pick_layers` chose, their maps ``(height, width)`` and why, in one line."""

    feature_layer: str
    gradcam_layer: str
    feature_map: tuple[int, int]
    gradcam_map: tuple[int, int]
    input_size: int
    reason: str

    def __repr__(self) -> str:
        return f"LayerChoice({self.reason!r})"


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer (got {value!r})")
    return value


def _refuse_transformers(model: nn.Module) -> None:
    name = type(model).__name__
    if isinstance(model, torchvision.models.VisionTransformer):
        raise ModelError(
            f"{name}: its layers output a token sequence (N, 1 + h*w, D), not an (N, C, H, W) map, so hni has "
            "no layer to read Grad-CAM or patch features at; use a CNN architecture (e.g. resnet50, "
            "convnext_tiny, efficientnet_b0)"
        )
    if isinstance(model, torchvision.models.SwinTransformer):
        raise ModelError(
            f"{name}: its stages output channels-last (N, H, W, C) maps, and hni reads Grad-CAM and patch "
            "features from (N, C, H, W) maps; use a CNN architecture (e.g. resnet50, convnext_tiny, "
            "efficientnet_b0)"
        )


def stages(model: nn.Module) -> list[str]:
    """The dotted names of the candidate stages, in declaration order, without running the model.

    The names are those of the trunk's children (see the module doc); which of them really output an
    ``(N, C, H, W)`` map once per pass only a forward pass tells (:func:`measure_maps`). Transformers are
    refused with a :class:`ModelError`.

    >>> stages(torchvision.models.resnet18(weights=None))
    ['layer1', 'layer2', 'layer3', 'layer4']
    """
    _refuse_transformers(model)
    children = dict(model.named_children())
    trunk_name = next((name for name in TRUNKS if name in children), "")
    trunk = children[trunk_name] if trunk_name else model
    prefix = f"{trunk_name}." if trunk_name else ""
    named = []
    for name, child in trunk.named_children():
        # A plain ModuleList has no forward and is never called; its items run instead.
        if type(child).forward is nn.Module.forward:
            named += [(f"{prefix}{name}.{item}", module) for item, module in child.named_children()]
        else:
            named.append((f"{prefix}{name}", child))
    containers = [name for name, child in named if next(child.children(), None) is not None]
    return containers or [name for name, _ in named]


@dataclass
class _Seen:
    order: int
    calls: int
    shape: tuple[int, ...] | str  # the first output's shape, or its type name when it is not a tensor


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the block, then each module's own train/eval flag back (mixed states stay mixed)."""
    previous = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in previous:
            module.training = training


def _run(model: nn.Module, input_size: int, names: Sequence[str]) -> dict[str, _Seen]:
    """What each of ``names`` outputs in one forward pass of a zero image (only the layers that ran)."""
    modules = dict(model.named_modules())
    seen: dict[str, _Seen] = {}

    def recorder(name: str) -> Any:
        def record(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
            if name in seen:
                seen[name].calls += 1
            else:
                shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
                seen[name] = _Seen(len(seen), 1, shape)

        return record

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    handles: list[RemovableHandle] = []
    try:
        for name in dict.fromkeys(names):
            handles.append(modules[name].register_forward_hook(recorder(name)))
        with _eval_mode(model), torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device=device, dtype=dtype))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ModelError(f"{type(model).__name__} cannot run on a {input_size} px input: {exc}") from exc
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _maps(seen: dict[str, _Seen], names: Sequence[str]) -> list[LayerMap]:
    """The ``names`` that output one ``(1, C, H, W)`` map per pass, in the order they ran."""
    found = []
    for name in names:
        entry = seen.get(name)
        if entry is not None and entry.calls == 1 and isinstance(entry.shape, tuple) and len(entry.shape) == 4:
            found.append((entry.order, LayerMap(name, *entry.shape[1:])))
    return [layer_map for _, layer_map in sorted(found, key=lambda pair: pair[0])]


def measure_maps(model: nn.Module, input_size: int, names: Sequence[str] | None = None) -> list[LayerMap]:
    """The spatial maps of ``names`` (default: the :func:`stages`) at ``input_size`` px, in the order they run.

    One forward pass of a zero image ``(1, 3, input_size, input_size)``, in eval mode and under no_grad,
    with a forward hook on each layer (removed afterwards; each module's train/eval flag is restored).
    Layers that do not run, run more than once, or do not output an ``(N, C, H, W)`` tensor are left out.
    A model that cannot run at that size raises :class:`ModelError`.

    >>> net = torchvision.models.resnet18(weights=None)
    >>> [str(m) for m in measure_maps(net, 56)]
    ['layer1 (14x14)', 'layer2 (7x7)', 'layer3 (4x4)', 'layer4 (2x2)']
    """
    _check_size(input_size, "input_size")
    names = stages(model) if names is None else list(names)
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules or name == ""]
    if unknown:
        raise ModelError(_unknown(model, unknown[0], input_size))
    return _maps(_run(model, input_size, names), names)


def _deepest(maps: Sequence[LayerMap], min_side: int) -> LayerMap | None:
    return next((m for m in reversed(maps) if m.side >= min_side), None)


def _stage_maps(model: nn.Module, input_size: int) -> list[LayerMap]:
    maps = measure_maps(model, input_size)
    if not maps:
        raise ModelError(
            f"{type(model).__name__} has no stage with an (N, C, H, W) output at {input_size} px "
            f"(looked at {', '.join(stages(model)) or 'no layers'}); set model.feature_layer and "
            "model.gradcam_layer by hand"
        )
    return maps


def _choose(maps: Sequence[LayerMap], input_size: int, min_side: int) -> LayerChoice:
    chosen = _deepest(maps, min_side)
    if chosen is not None:
        why = f"the deepest stage whose map is at least {min_side}x{min_side}"
    else:
        largest = max(m.side for m in maps)
        chosen = next(m for m in reversed(maps) if m.side == largest)
        why = f"no stage gives a {min_side}x{min_side} map at this size, so the stage with the largest map"
    shape = (chosen.height, chosen.width)
    reason = f"{chosen.name} ({chosen.size} at {input_size} px): {why}"
    return LayerChoice(chosen.name, chosen.name, shape, shape, input_size, reason)


def pick_layers(model: nn.Module, input_size: int, *, min_side: int = 7) -> LayerChoice:
    """The feature and Grad-CAM layer for ``model`` at ``input_size`` px (see the module doc for the rule).

    Raises :class:`ModelError` for a transformer, a model that cannot run at that size, or one with no
    stage that outputs an ``(N, C, H, W)`` map.

    >>> net = torchvision.models.resnet18(weights=None)
    >>> pick_layers(net, 224).reason
    'layer4 (7x7 at 224 px): the deepest stage whose map is at least 7x7'
    >>> pick_layers(net, 56)
    LayerChoice('layer2 (7x7 at 56 px): the deepest stage whose map is at least 7x7')
    >>> pick_layers(net, 16).reason
    'layer1 (4x4 at 16 px): no stage gives a 7x7 map at this size, so the stage with the largest map'
    """
    _check_size(input_size, "input_size")
    _check_size(min_side, "min_side")
    return _choose(_stage_maps(model, input_size), input_size, min_side)


def _unknown(model: nn.Module, layer: str, input_size: int, setting: str | None = None) -> str:
    names = [name for name, _ in model.named_modules() if name]
    hint = did_you_mean(layer, names, n=3, cutoff=0.5, quote=repr)
    try:
        known = ", ".join(str(m) for m in measure_maps(model, input_size))
    except ModelError:  # the model cannot run at this size: name the stages without their maps
        known = ", ".join(stages(model))
    head = f"{setting} = {layer!r}: unknown layer" if setting else f"unknown layer {layer!r}"
    return f"{head} in {type(model).__name__}; its stages at {input_size} px are {known}{hint}"


def layer_warning(model: nn.Module, input_size: int, layer: str, *, setting: str | None = None) -> str | None:
    """A warning when ``layer``'s map at ``input_size`` px is smaller than 4x4 (:data:`WARN_SIDE`), else None.

    ``setting`` names where the layer was given (e.g. ``"model.gradcam_layer"``) for the message. The
    warning suggests the deepest stage with at least a 4x4 map, or a larger input size.

    Raises :class:`ModelError` when ``layer`` is not a module of ``model`` (naming the stages and the
    closest names), or when it cannot serve: it does not run, runs more than once per pass, or does not
    output an ``(N, C, H, W)`` map. Transformers are refused as in :func:`pick_layers`.

    >>> net = torchvision.models.resnet18(weights=None)
    >>> layer_warning(net, 56, "layer4", setting="model.feature_layer")  # doctest: +NORMALIZE_WHITESPACE
    'model.feature_layer = layer4 gives a 2x2 map at 56 px: Grad-CAM and patch features carry little at that
    size; try layer3 (4x4) or a larger --input-size'
    >>> layer_warning(net, 224, "layer4") is None
    True
    """
    _check_size(input_size, "input_size")
    names = stages(model)
    if layer == "" or layer not in dict(model.named_modules()):
        raise ModelError(_unknown(model, layer, input_size, setting))
    seen = _run(model, input_size, names + [layer])
    given = f"{setting} = {layer}" if setting else layer
    entry = seen.get(layer)
    if entry is None:
        raise ModelError(f"{given}: this layer does not run in an eval-mode forward pass")
    if entry.calls != 1:
        raise ModelError(f"{given}: this layer runs {entry.calls} times per forward pass; it must run once")
    if not isinstance(entry.shape, tuple) or len(entry.shape) != 4:
        got = f"a {entry.shape}" if isinstance(entry.shape, str) else f"a {entry.shape} tensor"
        known = ", ".join(str(m) for m in _maps(seen, names))
        hint = f"; its stages at {input_size} px are {known}" if known else ""
        raise ModelError(f"{given}: outputs {got}, not an (N, C, H, W) map{hint}")
    (mine,) = _maps(seen, [layer])
    if mine.side >= WARN_SIDE:
        return None
    better = _deepest(_maps(seen, names), WARN_SIDE)
    if better is None:
        fix = f"no stage gives a {WARN_SIDE}x{WARN_SIDE} map at this size; use a larger --input-size"
    else:
        fix = f"try {better} or a larger --input-size"
    little = "Grad-CAM and patch features carry little at that size"
    return f"{given} gives a {mine.size} map at {input_size} px: {little}; {fix}"
